using System.Runtime.ExceptionServices;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;
using Dropbox.StorageNode.Tests.Engine.Faults;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>
/// The signal the reporter of "chunk stored" events waits on while an event's put is still being made durable
/// (<see cref="ChunkStore.WaitForPutSettledAsync"/>): given when a put ends, once the put is no longer in flight, and
/// cheaply when nobody waits.
/// </summary>
public sealed class PutSettledSignalTests : IDisposable
{
    private static readonly AsyncLocal<bool> InPuts = new();

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task The_end_of_a_put_wakes_the_reporter_that_waits_for_its_event()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/settle"));
        await using var engine = OpenEngine("/settle", faulty);
        await using var outbox = new EventOutbox(_temp.CreateSub("outbox"));
        var store = new ChunkStore(engine, outbox, new NodeId("n"));

        // A slow disk: the put's segment write is held until the test lets it go.
        using var entered = new SemaphoreSlim(0, 1);
        using var gate = new ManualResetEventSlim();
        faulty.BeforeWrite = path =>
        {
            if (path.EndsWith(Segment.FramedExtension, StringComparison.Ordinal))
            {
                entered.Release();
                gate.Wait(TimeSpan.FromSeconds(30));
            }
        };
        var (id, bytes) = TestChunks.Random(200_000, 7);
        var put = store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, TestSequences.Of([bytes]), "ns", CancellationToken.None).AsTask();
        Assert.True(await entered.WaitAsync(TimeSpan.FromSeconds(30)), "the put never reached its write");

        // What the reporter sees meanwhile: the event is there, its put is not done, so nothing is ready to report.
        var pending = await WaitForEventAsync(outbox);
        var deliverable = new List<StoredChunkEvent>();
        Assert.Equal(0, store.TakeDeliverable(pending, deliverable));

        // The reporter waits (much longer than it ever polled); the put's end must wake it, and by then the put must
        // no longer count as in flight: a reporter woken earlier would find nothing ready and sleep its whole wait.
        var wait = store.WaitForPutSettledAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await Task.Delay(50);
        Assert.False(wait.IsCompleted, "the reporter was woken before any put ended");
        gate.Set();
        Assert.True(await wait, "the reporter was not woken by the end of the put it waited for: it would have slept its whole wait");
        Assert.Equal(1, store.TakeDeliverable(pending, deliverable));
        Assert.Equal(id, Assert.Single(deliverable).Id);
        await put;
    }

    [Fact]
    public async Task Puts_that_nobody_waits_for_throw_no_exception()
    {
        await using var engine = OpenEngine("/quiet", new MemoryFiles("/quiet"));
        await using var outbox = new EventOutbox(_temp.CreateSub("outbox"));
        var store = new ChunkStore(engine, outbox, new NodeId("n"));

        var thrown = 0;
        void OnFirstChance(object? sender, FirstChanceExceptionEventArgs e)
        {
            // The flag flows with this test's puts only (their finally runs in the caller's execution context).
            if (e.Exception is SemaphoreFullException && InPuts.Value)
            {
                Interlocked.Increment(ref thrown);
            }
        }

        const int puts = 20;
        AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;
        try
        {
            InPuts.Value = true;
            for (var i = 0; i < puts; i++)
            {
                var (id, bytes) = TestChunks.Random(1_000, 100 + i);
                await store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, "ns", CancellationToken.None);
            }
        }
        finally
        {
            InPuts.Value = false;
            AppDomain.CurrentDomain.FirstChanceException -= OnFirstChance;
        }

        // Nobody waits: the first put gives the signal, and each later one must see it given, not throw on Release.
        Assert.True(thrown == 0, $"{thrown} of {puts} puts threw a SemaphoreFullException while ending (the signal's slot was already full)");
    }

    private ChunkEngine OpenEngine(string directory, IEngineFiles files) => ChunkEngine.Open(new EngineOptions
    {
        Directory = directory,
        Files = files,
        IndexDirectory = _temp.Sub("index" + directory.Replace('/', '-')),
        CheckpointInterval = TimeSpan.Zero,
        IndexSizeBytes = 1L << 16,
        IndexMemoryBytes = 1L << 20,
        IndexPageSizeBytes = 1L << 16,
        SegmentMaxBytes = 16L << 20,
    });

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
