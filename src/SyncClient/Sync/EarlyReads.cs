using Dropbox.Shared.Pipeline;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Reads of large synced files whose size or mtime moved, started at the top of a pass, beside the remote listing and
/// the scan, so that the hash of an edited large file (all of its bytes, to find the few chunks that changed) starts
/// ~0.2 s earlier: on a re-sync after a one-byte insert into 1 GiB that hash is four fifths of the pass.
/// It decides nothing. A read is used only where the pass needs that file's content anyway (<see cref="LocalContent"/>)
/// and only if the file is still exactly as read then: the scan's size and mtime, and the inode change time the read
/// began with, which any write, truncate or chmod since moves (one statx). Otherwise the file is read again as before.
/// </summary>
internal sealed class EarlyReads : IAsyncDisposable
{
    /// <summary>Smaller files are read when the pass needs them: the time an early start saves grows with the size.</summary>
    public const long MinSize = 16L * 1024 * 1024;

    /// <summary>At most this many files are read early in a pass (one after the other: each read uses every core).</summary>
    public const int MaxFiles = 4;

    /// <summary>At most this many large synced files are looked at (one statx each) to find those that moved.</summary>
    public const int MaxLooks = 256;

    private readonly Dictionary<string, Read> _reads;
    private readonly CancellationTokenSource? _cts;
    private readonly Task _all;
    private int _disposed;

    private EarlyReads(Dictionary<string, Read> reads, CancellationTokenSource? cts, Task all)
    {
        _reads = reads;
        _cts = cts;
        _all = all;
    }

    /// <summary>Completes when every early read has ended (tests).</summary>
    internal Task ReadsEnded => _all;

    /// <summary>Reads started early and not taken yet (tests).</summary>
    public int Pending
    {
        get
        {
            lock (_reads)
            {
                return _reads.Count;
            }
        }
    }

    /// <summary>
    /// Looks (one statx each, here) for the large files of <paramref name="index"/> with another size or mtime than
    /// synced and older than <paramref name="stableAge"/> (a younger one is likely still being written: the planner
    /// waits for it and would not use the read), and starts reading them in the background. <paramref name="minSize"/>: tests.
    /// <paramref name="knownChunks"/> gives, by path and size, what a read may identify unchanged chunks by (<see cref="SyncContext.KnownChunksOf"/>).
    /// </summary>
    public static EarlyReads Start(Dictionary<string, BaseStat> index, Func<string, string> fullPath, FileHasher hasher, TimeProvider time, TimeSpan stableAge, CancellationToken ct, long minSize = MinSize, Func<string, long, KnownChunks?>? knownChunks = null)
    {
        var moved = new List<string>();
        var looks = 0;
        foreach (var (path, stat) in index)
        {
            if (stat.Kind != FileKind.File || stat.Size < minSize)
            {
                continue;
            }

            if (++looks > MaxLooks)
            {
                break;
            }

            if (FileChangeTime.TryStat(fullPath(path)) is { Exists: true, IsRegularFile: true, CtimeNs: not null, MtimeTicks: >= 0 } now
                && new FileStamp(now.Size, now.MtimeTicks) != FileStamp.Of(stat)
                && time.GetUtcNow().UtcDateTime - new DateTime(now.MtimeTicks, DateTimeKind.Utc) >= stableAge)
            {
                moved.Add(path);
                if (moved.Count == MaxFiles)
                {
                    break;
                }
            }
        }

        var reads = new Dictionary<string, Read>(StringComparer.Ordinal);
        if (moved.Count == 0)
        {
            return new EarlyReads(reads, null, Task.CompletedTask);
        }

        // Every read is registered before any starts, so the pass's take finds a read under way rather than missing it.
        var queue = moved.Select(p => new Read(p)).ToArray();
        foreach (var read in queue)
        {
            reads[read.Path] = read;
        }

        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var all = Task.Run(() => ReadAllAsync(queue, fullPath, hasher, knownChunks, cts.Token), CancellationToken.None);
        return new EarlyReads(reads, cts, all);
    }

    /// <summary>
    /// The early read of <paramref name="entry"/>'s file, when one was made and the file is still exactly as read (see
    /// the class); null otherwise (the caller reads it). Waits for a read under way; one not started yet is dropped
    /// (the caller's own read is as quick, and never waits behind another file's read).
    /// </summary>
    public async Task<FileFingerprint?> TakeAsync(LocalEntry entry, string fullPath)
    {
        Read? read;
        lock (_reads)
        {
            if (!_reads.Remove(entry.Path, out read))
            {
                return null;
            }
        }

        if (Interlocked.CompareExchange(ref read.State, Read.Dropped, Read.Waiting) == Read.Waiting)
        {
            return null;
        }

        FileFingerprint? fp;
        try
        {
            fp = await read.Result.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }

        // The ctime must be known: without it a write that put the size and mtime back could not be told apart.
        return fp is { ChangeTimeNs: { } ctime } && FileStamp.Of(fp) == FileStamp.Of(entry) && FileHasher.IsAsScanned(fullPath, entry.Size, entry.MtimeTicks, ctime)
            ? fp
            : null;
    }

    /// <summary>Stops the reads still under way or not started (once the pass has read what it needs); safe to call twice.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_cts is null || Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _cts.CancelAsync().ConfigureAwait(false);
        await _all.ConfigureAwait(false); // never faults: every outcome goes to its read's result
        _cts.Dispose();
    }

    private static async Task ReadAllAsync(Read[] queue, Func<string, string> fullPath, FileHasher hasher, Func<string, long, KnownChunks?>? knownChunks, CancellationToken ct)
    {
        foreach (var read in queue)
        {
            if (Interlocked.CompareExchange(ref read.State, Read.Running, Read.Waiting) != Read.Waiting)
            {
                continue; // the pass took it before it started: it reads the file itself
            }

            try
            {
                ct.ThrowIfCancellationRequested();
                var full = fullPath(read.Path);

                // Looked at again right before the open: opening something that became a FIFO or a device blocks or never ends.
                read.Result.TrySetResult(FileChangeTime.TryStat(full) is { Exists: true, IsRegularFile: true } now
                    ? await hasher.TryHashAsync(full, knownChunks?.Invoke(read.Path, now.Size), ct).ConfigureAwait(false)
                    : null);
            }
            catch (OperationCanceledException)
            {
                read.Result.TrySetCanceled(ct);
            }
            catch (Exception)
            {
                // Whatever failed here, the pass's own read of the file meets it again, and reports it as it does.
                read.Result.TrySetResult(null);
            }
        }
    }

    /// <summary>One file's early read: waiting to start, running (the pass waits for it), or dropped by the pass.</summary>
    private sealed class Read(string path)
    {
        public const int Waiting = 0;
        public const int Running = 1;
        public const int Dropped = 2;

        public int State = Waiting;

        public string Path { get; } = path;

        public TaskCompletionSource<FileFingerprint?> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
