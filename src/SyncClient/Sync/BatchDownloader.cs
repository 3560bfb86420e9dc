using Dropbox.Shared.Errors;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Downloads many files with one durability barrier per batch instead of one per file: every file of a batch is
/// fetched into its temp file (several at once), then the barrier makes all of their bytes durable, then each is
/// checked and renamed into place, then the folders the renames touched are made durable (once each), then the whole
/// batch is recorded in the local db in one transaction. So a file never appears under its name before its bytes are
/// durable, and the db never records a file whose rename is not durable; a crash at any point leaves, for each file,
/// the old state or the whole new file (and at worst a stray temp file, which is ignored and cleaned up).
/// </summary>
internal sealed class BatchDownloader
{
    /// <summary>Most files per barrier.</summary>
    public const int MaxFiles = 512;

    /// <summary>Most bytes per barrier (a larger file is a batch of its own).</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly FileDownloader _downloader;
    private readonly int _parallelism;

    public BatchDownloader(SyncContext ctx, SyncSummary summary, FileDownloader downloader, int parallelism)
    {
        _ctx = ctx;
        _summary = summary;
        _downloader = downloader;
        _parallelism = Math.Max(1, parallelism);
    }

    /// <summary>
    /// Downloads <paramref name="files"/> (relative path and expected size, nothing at the path here as far as the pass
    /// knows). A file that fails is reported in the summary and left out; the others go on. Returns the conflicted copies
    /// made of local files that appeared at a path meanwhile (the caller uploads them).
    /// </summary>
    public async Task<List<string>> DownloadAsync(IReadOnlyList<(string Path, long Size)> files, CancellationToken ct)
    {
        var copies = new List<string>();
        var batch = new List<string>();
        long bytes = 0;
        foreach (var (path, size) in files)
        {
            if (batch.Count > 0 && (batch.Count >= MaxFiles || bytes + size > MaxBytes))
            {
                await DownloadBatchAsync(batch, copies, ct).ConfigureAwait(false);
                batch.Clear();
                bytes = 0;
            }

            batch.Add(path);
            bytes += Math.Max(0, size);
        }

        if (batch.Count > 0)
        {
            await DownloadBatchAsync(batch, copies, ct).ConfigureAwait(false);
        }

        return copies;
    }

    private async Task DownloadBatchAsync(List<string> paths, List<string> copies, CancellationToken ct)
    {
        var staged = new StagedDownload?[paths.Count];
        try
        {
            await Parallel.ForAsync(0, paths.Count, new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = ct }, async (i, token) =>
            {
                try
                {
                    staged[i] = await _downloader.StageAsync(paths[i], null, null, null, token).ConfigureAwait(false);
                    if (staged[i] is null)
                    {
                        _ctx.Progress.FileDone(); // gone remotely meanwhile: nothing to do
                    }
                }
                catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
                {
                    Fail(paths[i], e);
                }
            }).ConfigureAwait(false);

            var ready = staged.Where(s => s is not null).Select(s => s!).ToList();
            if (ready.Count == 0)
            {
                return;
            }

            try
            {
                // The barrier: every byte of the batch durable before any file of it is renamed into place.
                _ctx.Barrier.FlushFiles(_ctx.Folder, ready.Select(s => s.Handle!).ToList());
            }
            catch (IOException e)
            {
                foreach (var s in ready)
                {
                    Fail(s.Path, e);
                }

                return;
            }

            var placed = new List<(StagedDownload Staged, PlacedDownload Placed)>(ready.Count);
            foreach (var s in ready)
            {
                s.Close();
                try
                {
                    placed.Add((s, await _downloader.PlaceAsync(s, ct).ConfigureAwait(false)));
                }
                catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
                {
                    Fail(s.Path, e);
                }
            }

            if (placed.Count == 0)
            {
                return;
            }

            // Each folder once, for all the renames into it; then the db, in one transaction.
            try
            {
                _ctx.Barrier.FlushDirectories(placed.Select(p => p.Staged.Directory).Distinct(StringComparer.Ordinal).ToList());
            }
            catch (IOException e)
            {
                // In place but not known durable: not recorded; the next pass finds them and compares them with the remote.
                foreach (var (s, _) in placed)
                {
                    Fail(s.Path, e);
                }

                return;
            }

            _ctx.State.PutFiles(placed.Select(p => (p.Placed.Record, (IReadOnlyList<Dropbox.Shared.Chunks.ChunkRef>?)p.Staged.Chunks)).ToList());
            foreach (var (s, p) in placed)
            {
                _summary.AddFileDownloaded();
                _ctx.Progress.FileDone();
                _ctx.Progress.Log($"downloaded '{s.Path}'");
                if (p.ConflictCopy is { } copy)
                {
                    copies.Add(copy);
                }
            }
        }
        finally
        {
            foreach (var s in staged)
            {
                s?.Dispose();
            }
        }
    }

    private void Fail(string path, Exception e)
    {
        _summary.AddError($"{SyncActionKind.Download} {path}: {e.Message}");
        _ctx.Progress.Log($"error: {SyncActionKind.Download} {path}: {e.Message}");
        _ctx.Progress.FileDone();
    }
}
