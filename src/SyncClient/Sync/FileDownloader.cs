using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Download plan → each chunk copied from a local file that already holds it (re-hashed) or fetched
/// and verified → temp file beside the target → fsync → final check that the local file did not change
/// since the plan (else it is kept as a conflicted copy) → rename into place → record.
/// </summary>
internal sealed class FileDownloader
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly SemaphoreSlim _gets;
    private readonly Func<string, string> _conflictName;

    public FileDownloader(SyncContext ctx, SyncSummary summary, SemaphoreSlim gets, Func<string, string> conflictName)
    {
        _ctx = ctx;
        _summary = summary;
        _gets = gets;
        _conflictName = conflictName;
    }

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    public async Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, CancellationToken ct)
    {
        GetDownloadPlanResponse plan;
        try
        {
            plan = await _ctx.Metadata.GetDownloadPlanAsync(DownloadPlans.FirstPage(path), ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
        {
            return DownloadResult.Gone;
        }

        if (plan.Entry is null || plan.Entry.Deleted)
        {
            return DownloadResult.Gone;
        }

        var full = _ctx.FullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, IgnoreMatcher.TempPrefix + Guid.NewGuid().ToString("N"));
        var chunks = new List<ChunkRef>(Math.Max(plan.Chunks.Count, (int)Math.Min(plan.TotalChunks, 1_000_000)));
        try
        {
            await using (var output = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 }))
            {
                // A window of chunks in flight, written strictly in order; each chunk's pooled buffer goes back
                // to the pool once written, so memory is the window, not the file.
                // Later pages of the plan are asked for as the window reaches them.
                var window = new Queue<Task<ChunkBuffer>>();
                await using var gets = DownloadPlans.ChunksAsync(_ctx.Metadata, path, plan, ct).GetAsyncEnumerator(ct);
                try
                {
                    var more = await gets.MoveNextAsync().ConfigureAwait(false);
                    var limit = Math.Max(1, _ctx.Options.Parallelism);
                    while (more || window.Count > 0)
                    {
                        while (more && window.Count < limit)
                        {
                            var get = gets.Current;
                            chunks.Add(get.Chunk.ToDomain());
                            window.Enqueue(ObtainAsync(get, ct));
                            more = await gets.MoveNextAsync().ConfigureAwait(false);
                        }

                        using var plain = await window.Dequeue().ConfigureAwait(false);
                        await output.WriteAsync(plain.Memory, ct).ConfigureAwait(false);
                        _ctx.Progress.AddBytes(plain.Length);
                    }
                }
                finally
                {
                    await ReleaseWindowAsync(window).ConfigureAwait(false);
                }

                await output.FlushAsync(ct).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }

            var mtime = DateTimeOffset.FromUnixTimeMilliseconds(plan.Entry.MtimeUnixMs).UtcDateTime;
            if (plan.Entry.MtimeUnixMs > 0)
            {
                File.SetLastWriteTimeUtc(temp, mtime);
            }

            string? conflictCopy = null;
            if (Directory.Exists(full))
            {
                throw new DropboxException(ErrorKind.Conflict, $"'{path}' is a folder here and a file remotely; rename one of them.");
            }

            if (LocalChangedSincePlan(full, expectedLocal))
            {
                // Never overwrite a local edit the plan did not see: keep it beside the download.
                conflictCopy = _conflictName(path);
                File.Move(full, _ctx.FullPath(conflictCopy));
                _summary.AddConflict();
                _ctx.Progress.Log($"conflict: '{path}' changed here during the download; your version is kept as '{conflictCopy}'");
            }

            File.Move(temp, full, overwrite: true);
            DirectorySync.Flush(directory);
            var info = new FileInfo(full);
            var ids = chunks.Select(c => c.Id).ToList();
            _ctx.State.PutFile(new FileRecord(path, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, plan.Entry.Version, FileVersion.ComputeContentHash(ids)), chunks);
            _summary.AddFileDownloaded();
            return new DownloadResult(true, conflictCopy);
        }
        finally
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>True when the local file is not what the plan saw (created, edited; a vanished file is fine to replace).</summary>
    internal static bool LocalChangedSincePlan(string full, LocalEntry? expected)
    {
        var info = new FileInfo(full);
        if (!info.Exists)
        {
            return false;
        }

        return expected is null || expected.Kind != FileKind.File || info.Length != expected.Size || info.LastWriteTimeUtc.Ticks != expected.MtimeTicks;
    }

    /// <summary>After a failure: waits for the chunks still in flight and gives their buffers back.</summary>
    private static async Task ReleaseWindowAsync(Queue<Task<ChunkBuffer>> window)
    {
        while (window.Count > 0)
        {
            try
            {
                using var _ = await window.Dequeue().ConfigureAwait(false);
            }
            catch
            {
                // The first failure is what the caller reports.
            }
        }
    }

    private async Task<ChunkBuffer> ObtainAsync(ChunkGet get, CancellationToken ct)
    {
        var reference = get.Chunk.ToDomain();
        var local = await TryReadLocalAsync(reference, ct).ConfigureAwait(false);
        if (local is not null)
        {
            _summary.AddChunksReused(1);
            return local;
        }

        Exception? last = null;
        for (var i = 0; i < get.Nodes.Count; i++)
        {
            await _gets.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var token = i < get.Tokens.Count ? get.Tokens[i] : string.Empty;
                var received = await _ctx.Transfer.GetChunksAsync(get.Nodes[i].GrpcUrl, [reference.Id], token, ct).ConfigureAwait(false);
                if (received.Count != 1)
                {
                    foreach (var extra in received)
                    {
                        extra.Dispose();
                    }

                    throw new DropboxException(ErrorKind.DataLoss, $"Storage node {get.Nodes[i].NodeId} sent {received.Count} chunks for one request.");
                }

                var storedLength = received[0].Stored.Length;
                var plain = ChunkDecoder.DecodeAndVerify(received[0], reference.Id, reference.Size);
                _summary.AddChunksDownloaded(1);
                _summary.AddBytesDownloaded(storedLength);
                return plain;
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.DataLoss or ErrorKind.Unavailable or ErrorKind.NotFound or ErrorKind.Internal)
            {
                last = e; // try the next node holding it
            }
            finally
            {
                _gets.Release();
            }
        }

        throw new DropboxException(ErrorKind.Unavailable, $"No storage node could serve chunk {reference.Id.ToShortString()}: {last?.Message ?? "no node holds it"}", last);
    }

    private async Task<ChunkBuffer?> TryReadLocalAsync(ChunkRef reference, CancellationToken ct)
    {
        foreach (var place in _ctx.State.FindChunk(reference.Id))
        {
            if (place.Length != reference.Size)
            {
                continue;
            }

            var buffer = ChunkBuffer.Rent(place.Length);
            try
            {
                await using var stream = new FileStream(_ctx.FullPath(place.Path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.Asynchronous);
                stream.Position = place.Offset;
                await stream.ReadExactlyAsync(buffer.Memory, ct).ConfigureAwait(false);
                if (ChunkId.Compute(buffer.Span) == reference.Id)
                {
                    var found = buffer;
                    buffer = null;
                    return found;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone or changed: fetch it instead.
            }
            finally
            {
                buffer?.Dispose();
            }
        }

        return null;
    }
}
