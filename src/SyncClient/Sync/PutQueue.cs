using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The chunk puts of one upload (a group of files, or one file streamed by windows): per-node batches
/// (<see cref="SyncOptions.PutBatchBytes"/>, <see cref="SyncOptions.PutBatchChunks"/>) shared by every file of the upload,
/// sent as they fill, at most <see cref="SyncOptions.Parallelism"/> in flight across the pass (adding waits for a slot,
/// which bounds memory). A chunk goes to a node once however many files of the upload hold it. A put refused as full or
/// not answered puts its node in the avoided set (the one place that does), and <see cref="NodeFailed"/> tells the upload
/// that its own plan met it. Disposing gives back unsent chunks and cancels and awaits what is in flight.
/// </summary>
internal sealed class PutQueue(SyncContext ctx, SyncSummary summary, SemaphoreSlim slots, AvoidedNodes avoided, string? progressPath, CancellationToken ct) : IAsyncDisposable
{
    private readonly Dictionary<string, PutBatch> _batches = new(StringComparer.Ordinal);
    private readonly HashSet<(string Url, ChunkId Id)> _queued = [];
    private readonly List<Task> _inFlight = [];
    private readonly CancellationTokenSource _failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
    private volatile bool _nodeFailed;

    /// <summary>True once a put failed: stop adding, <see cref="CompleteAsync"/> throws its error.</summary>
    public bool Faulted => _inFlight.Exists(t => t.IsFaulted || t.IsCanceled);

    /// <summary>True once one of this upload's own puts was refused as full or not answered (its node is now avoided).</summary>
    public bool NodeFailed => _nodeFailed;

    /// <summary>Takes ownership of <paramref name="chunk"/> and queues it for each node of <paramref name="puts"/> not already sent it.</summary>
    public async Task AddAsync(SourceChunk chunk, IReadOnlyList<ChunkPut> puts)
    {
        var kept = false;
        try
        {
            var targets = puts.Where(p => _queued.Add((p.Node.GrpcUrl, chunk.Ref.Id))).ToList();

            // Replicas get copies first: the original belongs to the last batch added to, which may be sent and
            // disposed as soon as it is added.
            for (var r = targets.Count - 1; r >= 0; r--)
            {
                var url = targets[r].Node.GrpcUrl;
                if (!_batches.TryGetValue(url, out var batch))
                {
                    _batches[url] = batch = new PutBatch(targets[r].Node);
                }

                if (r == 0)
                {
                    batch.Add(chunk, targets[r].Token);
                    kept = true;
                }
                else
                {
                    batch.AddReplica(chunk, targets[r].Token);
                }

                if (batch.Bytes >= ctx.Options.PutBatchBytes || batch.Outgoing.Count >= ctx.Options.PutBatchChunks)
                {
                    _batches.Remove(url);
                    await SendAsync(batch).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            if (!kept)
            {
                chunk.Dispose();
            }
        }
    }

    /// <summary>
    /// Sends every batch that has already waited one whole plan window without filling (a sparse file's few missing
    /// chunks would otherwise keep their read blocks, up to 16 MiB each, until the file's end). Call once a window.
    /// </summary>
    public async Task SendStaleAsync()
    {
        if (Faulted)
        {
            return;
        }

        foreach (var (url, batch) in _batches.ToList())
        {
            if (batch.WindowsWaited++ >= 1)
            {
                _batches.Remove(url);
                await SendAsync(batch).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Sends what is still batched (unless a put failed) and waits for every put; throws the first failure.</summary>
    public async Task CompleteAsync()
    {
        if (!Faulted)
        {
            // Each batch leaves the list before it is sent: what is listed is never a put's (DisposeAsync frees it).
            while (_batches.Count > 0)
            {
                var (url, batch) = _batches.First();
                _batches.Remove(url);
                await SendAsync(batch).ConfigureAwait(false);
            }
        }

        await Task.WhenAll(_inFlight).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends a batch already taken off the list. Once its put task runs, that task owns (and disposes) it; if waiting
    /// for a slot fails (the pass is cancelled), no put ever saw it and it is disposed here.
    /// </summary>
    private async Task SendAsync(PutBatch batch)
    {
        try
        {
            await slots.WaitAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            batch.Dispose();
            throw;
        }

        _inFlight.RemoveAll(t => t.IsCompletedSuccessfully);
        _inFlight.Add(Task.Run(() => PutAsync(batch), CancellationToken.None));
    }

    private async Task PutAsync(PutBatch batch)
    {
        try
        {
            // By location, not by gRPC URL: the transfer sends large chunks over the node's presigned HTTP/1.1 links,
            // measured far cheaper than one HTTP/2 stream (a 1 GiB upload took ~40% longer and ~30% more CPU by URL).
            await ctx.Transfer.PutChunksAsync(batch.Node, batch.Outgoing, _failed.Token).ConfigureAwait(false);

            // Only the plan tells what this account need not send; a node answers every put alike.
            summary.AddChunksUploaded(batch.Outgoing.Count);
            summary.AddBytesUploaded(batch.Bytes);
            if (progressPath is not null)
            {
                ctx.Progress.AddBytes(batch.PlainBytes);
                ctx.Db.AddUploadProgress(progressPath, batch.Outgoing.Count);
            }
        }
        catch (Exception e)
        {
            if (e is DropboxException { Kind: ErrorKind.ResourceExhausted or ErrorKind.Unavailable } failure && !ct.IsCancellationRequested && !string.IsNullOrEmpty(batch.Node.NodeId))
            {
                _nodeFailed = true;
                if (failure.Kind == ErrorKind.ResourceExhausted)
                {
                    avoided.AddFull(batch.Node.NodeId);
                }
                else
                {
                    avoided.AddUnavailable(batch.Node.NodeId); // a slow batch steers plans away only briefly
                }
            }

            await _failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            batch.Dispose();
            slots.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var batch in _batches.Values)
        {
            batch.Dispose();
        }

        _batches.Clear();
        if (_inFlight.Count > 0)
        {
            await _failed.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(_inFlight).ConfigureAwait(false);
            }
            catch
            {
                // The first failure was already observed (or the pass is being cancelled).
            }
        }

        _failed.Dispose();
    }
}
