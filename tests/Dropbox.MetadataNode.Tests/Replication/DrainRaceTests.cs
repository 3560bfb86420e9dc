using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Replication;

public sealed class DrainRaceTests
{
    private const int Rounds = 10;
    private const int Threads = 4;
    private const int HeartbeatsPerThread = 100;

    [Fact]
    public async Task A_drain_set_while_heartbeats_pour_in_is_never_written_back_to_not_draining_and_survives_a_reopen()
    {
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1) });
        for (var round = 0; round < Rounds; round++)
        {
            // Arrange: not draining; heartbeats from several threads, the drain issued while they run.
            h.Store.SetDraining(StoreHarness.NodeA, false);
            using var started = new CountdownEvent(Threads);
            var heartbeats = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
            {
                started.Signal();
                for (var i = 0; i < HeartbeatsPerThread; i++)
                {
                    h.Store.Nodes.Heartbeat(StoreHarness.NodeA, (ulong)i, (ulong)t);
                }
            })).ToArray();
            Assert.True(started.Wait(TimeSpan.FromSeconds(30)), "heartbeat threads did not start");

            // Act
            h.Store.SetDraining(StoreHarness.NodeA, true);
            await Task.WhenAll(heartbeats).WaitAsync(TimeSpan.FromSeconds(60));

            // Assert: no heartbeat that read the record before the drain wrote the old flag back.
            Assert.True(h.Store.Nodes.Require(StoreHarness.NodeA).Draining, $"round {round}: a heartbeat wrote draining=false back");
        }

        h.Reopen();
        Assert.True(h.Store.Nodes.Require(StoreHarness.NodeA).Draining, "the drain flag did not survive a reopen");
    }
}
