using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;
using Dropbox.StorageNode.Tests.Engine.Faults;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>
/// The reporter of "chunk stored" events is held back by an event whose put is still being made durable; it is woken
/// when that put ends (<see cref="ChunkStore.WaitForPutSettledAsync"/>), not on its next 20 ms poll, so the metadata
/// node hears of a chunk about when the client that put it does.
/// </summary>
public sealed class PutSettledSignalTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task The_end_of_a_put_wakes_the_reporter_that_waits_for_its_event()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/settle"));
        await using var engine = ChunkEngine.Open(new EngineOptions
        {
            Directory = "/settle",
            Files = faulty,
            IndexDirectory = _temp.Sub("index"),
            CheckpointInterval = TimeSpan.Zero,
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 20,
            IndexPageSizeBytes = 1L << 16,
            SegmentMaxBytes = 16L << 20,
        });
        await using var outbox = new EventOutbox(_temp.CreateSub("outbox"));
        var store = new ChunkStore(engine, outbox, new NodeId("n"));

        // A slow disk: the put's segment write is held until the test lets it go.
        using var entered = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        faulty.BeforeWrite = path =>
        {
            if (path.EndsWith(Segment.FramedExtension, StringComparison.Ordinal))
            {
                entered.Set();
                gate.Wait(TimeSpan.FromSeconds(30));
            }
        };
        var (id, bytes) = TestChunks.Random(200_000, 7);
        var put = store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, TestSequences.Of([bytes]), "ns", CancellationToken.None).AsTask();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the put never reached its write");

        // What the reporter sees meanwhile: the event is there, its put is not done, so nothing is ready to report.
        var pending = await WaitForEventAsync(outbox);
        var deliverable = new List<StoredChunkEvent>();
        Assert.Equal(0, store.TakeDeliverable(pending, deliverable));

        // The reporter waits (much longer than it ever polled); the put's end must wake it.
        var wait = store.WaitForPutSettledAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await Task.Delay(50);
        Assert.False(wait.IsCompleted, "the reporter was woken before any put ended");
        gate.Set();
        await put;
        var woken = await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(20))) == wait;
        Assert.True(woken && await wait, "the reporter was not woken by the end of the put it waited for: it would have slept its whole wait");
        Assert.Equal(1, store.TakeDeliverable(pending, deliverable));
        Assert.Equal(id, Assert.Single(deliverable).Id);
    }

    private static async Task<List<StoredChunkEvent>> WaitForEventAsync(EventOutbox outbox)
    {
        for (var i = 0; i < 3000; i++)
        {
            var pending = outbox.ReadPending(10);
            if (pending.Count > 0)
            {
                return pending.Select(p => p.Event).ToList();
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("the put's event never reached the outbox");
    }
}
