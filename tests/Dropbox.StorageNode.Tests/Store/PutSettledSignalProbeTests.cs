using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>
/// Review probe: the settled signal is released at the end of every put, and the reporter waits on it only while the
/// oldest event's put is in flight. Most of the time nobody waits, so the one slot is full and every put after the
/// first throws (and catches) a SemaphoreFullException on the put path.
/// </summary>
public sealed class PutSettledSignalProbeTests : IDisposable
{
    private static readonly AsyncLocal<bool> InProbe = new();

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Puts_that_no_reporter_waits_for_throw_no_exception()
    {
        await using var engine = ChunkEngine.Open(new EngineOptions
        {
            Directory = "/probe",
            Files = new MemoryFiles("/probe"),
            IndexDirectory = _temp.Sub("index"),
            CheckpointInterval = TimeSpan.Zero,
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 20,
            IndexPageSizeBytes = 1L << 16,
            SegmentMaxBytes = 16L << 20,
        });
        await using var outbox = new EventOutbox(_temp.CreateSub("outbox"));
        var store = new ChunkStore(engine, outbox, new NodeId("n"));

        var thrown = 0;
        void OnFirstChance(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            // The flag flows with this test's puts only (their finally runs in the caller's execution context).
            if (e.Exception is SemaphoreFullException && InProbe.Value)
            {
                Interlocked.Increment(ref thrown);
            }
        }

        const int puts = 20;
        AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;
        try
        {
            InProbe.Value = true;
            for (var i = 0; i < puts; i++)
            {
                var (id, bytes) = TestChunks.Random(1_000, 100 + i);
                await store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, "ns", CancellationToken.None);
            }
        }
        finally
        {
            InProbe.Value = false;
            AppDomain.CurrentDomain.FirstChanceException -= OnFirstChance;
        }

        // With nobody waiting: the first put fills the slot, each of the other 19 throws on Release.
        Assert.True(thrown == 0, $"{thrown} of {puts} puts threw a SemaphoreFullException while ending (the signal's slot was already full)");
    }
}
