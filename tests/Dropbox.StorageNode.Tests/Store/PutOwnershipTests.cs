using System.Buffers;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;
using Dropbox.StorageNode.Tests.Engine.Faults;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>
/// A put's bytes are the caller's again once <see cref="ChunkStore.PutAsync(ChunkId, ChunkEncoding, int, ReadOnlySequence{byte}, string, CancellationToken)"/>
/// returns (the HTTP endpoint hands Kestrel's buffers back to the connection then): it must not return, even failing,
/// while the engine may still copy from them.
/// </summary>
public sealed class PutOwnershipTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_put_whose_event_the_outbox_refuses_returns_only_after_the_engine_took_its_bytes()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/own"));
        await using var engine = ChunkEngine.Open(new EngineOptions
        {
            Directory = "/own",
            Files = faulty,
            IndexDirectory = _temp.Sub("index"),
            CheckpointInterval = TimeSpan.Zero,
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 20,
            IndexPageSizeBytes = 1L << 16,
            SegmentMaxBytes = 16L << 20,
        });
        var outbox = new EventOutbox(_temp.CreateSub("outbox"));
        await outbox.DisposeAsync(); // refuses events at once, as after a completion callback threw or at shutdown
        var store = new ChunkStore(engine, outbox, new NodeId("n"));

        // A slow disk: the writer is held on another put's write, so this put's write waits in the queue.
        using var entered = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        var armed = 1;
        faulty.BeforeWrite = path =>
        {
            if (path.EndsWith(Segment.FramedExtension, StringComparison.Ordinal) && Interlocked.Exchange(ref armed, 0) == 1)
            {
                entered.Set();
                gate.Wait(TimeSpan.FromSeconds(30));
            }
        };
        var other = TestChunks.Random(50_000, 1);
        var first = engine.AppendAsync(other.Id, ChunkEncoding.Raw, other.Bytes.Length, other.Bytes, CancellationToken.None).AsTask();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));

        var (id, bytes) = TestChunks.Random(300_000, 2);
        var pieces = new[] { bytes.AsSpan(0, 100_000).ToArray(), bytes.AsSpan(100_000).ToArray() };
        var put = store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, TestSequences.Of(pieces), "ns", CancellationToken.None).AsTask();

        var returnedEarly = await Task.WhenAny(put, Task.Delay(300)) == put;
        gate.Set();
        await first;
        var failure = await Record.ExceptionAsync(() => put);
        Assert.False(returnedEarly, $"the put returned ({failure?.GetType().Name}) while its write still waited in the engine's queue");
        Assert.NotNull(failure); // the outbox refused the event: the put is not reported stored

        foreach (var piece in pieces)
        {
            piece.AsSpan().Fill(0xEE); // the caller reuses its buffers
        }

        if (engine.Contains(id))
        {
            using var chunk = await engine.ReadAsync(id, CancellationToken.None);
            Assert.Equal(bytes, chunk!.Data.ToArray());
        }
    }
}
