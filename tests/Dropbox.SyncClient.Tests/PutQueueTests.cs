using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.Sync;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The put queue under cancellation: a batch is either still listed (the queue frees it) or a put's (the put frees it
/// when done), never both, so a pooled buffer is neither lost nor given back while a put still reads it.
/// </summary>
public sealed class PutQueueTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_pass_cancelled_while_the_last_batches_wait_for_a_slot_frees_each_buffer_once_and_none_under_a_running_put()
    {
        using var a = new TestClient(_dir, "a", _server);
        var transfer = new SlowTransfer();
        var ctx = new SyncContext
        {
            Folder = a.Context.Folder, State = a.Context.State, Metadata = _server, Transfer = transfer, Chunker = a.Context.Chunker, Device = "a",
            Options = new SyncOptions { PutBatchChunks = 100 },
        };
        using var slots = new SemaphoreSlim(1); // one put in flight: the second batch must wait for a slot
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var queue = new PutQueue(ctx, new SyncSummary(), slots, new AvoidedNodes(TimeProvider.System), "f.bin", cts.Token);
        try
        {
            for (var n = 0; n < 3; n++)
            {
                var data = TestClient.RandomBytes(1000, 300 + n);
                var id = ChunkId.Compute(data);
                var owner = new TrackedBuffer();
                transfer.Owners[id] = owner;
                var put = new ChunkPut { ChunkId = ByteString.CopyFrom(id.ToArray()), Token = "t", Node = new ChunkLocation { GrpcUrl = $"http://node-{n}" } };
                await queue.AddAsync(new SourceChunk(0, ChunkRef.Raw(id, data.Length), data, data, owner), [put]);
            }

            var completing = queue.CompleteAsync(); // sends node-0 (its put holds the slot), then waits for a slot
            await transfer.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => completing);
        }
        finally
        {
            await queue.DisposeAsync(); // awaits the running put, which checks its buffer after a delay
        }

        Assert.Equal(1, transfer.Checked);
        Assert.False(transfer.SawFreedBuffer, "a batch was freed while its put still read it");
        Assert.All(transfer.Owners.Values, o => Assert.Equal(1, o.Disposals));
    }

    private sealed class TrackedBuffer : IDisposable
    {
        private int _disposals;

        public int Disposals => Volatile.Read(ref _disposals);

        public void Dispose() => Interlocked.Increment(ref _disposals);
    }

    /// <summary>A node that reads its chunks' buffers a while after the put began, whatever the token says.</summary>
    private sealed class SlowTransfer : IChunkTransfer
    {
        private int _checked;

        public Dictionary<ChunkId, TrackedBuffer> Owners { get; } = [];

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool SawFreedBuffer { get; private set; }

        public int Checked => Volatile.Read(ref _checked);

        public async Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct)
        {
            Started.TrySetResult();
            await Task.Delay(300, CancellationToken.None);
            if (chunks.Any(c => Owners[c.Id].Disposals > 0))
            {
                SawFreedBuffer = true;
            }

            Interlocked.Increment(ref _checked);
        }

        public Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct) =>
            throw new NotSupportedException();
    }
}
