using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;

namespace Dropbox.StorageNode.Tests.Services;

public sealed class EventOutboxTests
{
    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(20);
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Events_wait_in_the_outbox_while_the_metadata_node_is_down_and_are_delivered_after_a_restart()
    {
        using var dir = new TempFolder();
        var port = QuietPorts.Next();
        var first = Enumerable.Range(0, 6).Select(i => TestChunks.Random(10_000 + i, 500 + i)).ToArray();
        var second = Enumerable.Range(0, 3).Select(i => TestChunks.Random(20_000 + i, 600 + i)).ToArray();

        // The metadata node is unreachable: the storage node still starts and serves puts.
        await using (var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}" }, dir))
        {
            await node.PutRawAsync(first);
            Assert.Equal((ulong)first.Length, (await node.Client.GetStatsAsync(new GetStatsRequest { Token = node.SystemToken() })).PendingEvents);
        }

        // Restart with the events still pending, then bring the metadata node up.
        await using (var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}" }, dir))
        {
            await using var metadata = await FakeMetadataNode.StartAsync(port, node.Options.KeysDirectory);

            await WaitUntilAsync(() => first.All(c => metadata.Stored.ContainsKey(c.Id)), "events from before the restart");
            await node.PutRawAsync(second);
            await WaitUntilAsync(() => second.All(c => metadata.Stored.ContainsKey(c.Id)), "events from after the restart");
            await WaitUntilAsync(() => !metadata.Registrations.IsEmpty, "registration");

            var stored = metadata.Stored[first[0].Id];
            Assert.Equal((uint)first[0].Bytes.Length, stored.Size);
            Assert.Equal(NodeFixture.Namespace, stored.NamespaceId);
            var registration = Assert.Single(metadata.Registrations.Take(1));
            Assert.Equal(NodeFixture.NodeIdValue, registration.NodeId);
            Assert.Equal(node.GrpcUrl, registration.GrpcUrl);
            Assert.Equal(node.HttpUrl, registration.HttpUrl);
            await WaitUntilAsync(() => node.Store.Outbox.PendingCount == 0, "outbox drained");
        }
    }
}
