using Dropbox.Shared.Chunks;
using Dropbox.Shared.Pipeline;

namespace Dropbox.SyncClient.Local;

/// <summary>Reads a file once to compute its chunk list and content hash; notices a file that changes meanwhile.</summary>
internal sealed class FileHasher
{
    private readonly IChunkSource _source;
    private readonly TimeProvider _time;
    private readonly TimeSpan _racyWindow;
    private readonly Lock _racyLock = new();
    private long _filesRead;
    private long _racyReads;
    private TimeSpan? _racySettlesIn;

    /// <param name="source">Chunks the files.</param>
    /// <param name="time">The clock a read is judged by (see <paramref name="racyWindow"/>).</param>
    /// <param name="racyWindow">
    /// A file read while its mtime was younger than this (the stable age) gets a fingerprint marked
    /// <see cref="FileFingerprint.Racy"/>. Zero: never.
    /// </param>
    public FileHasher(IChunkSource source, TimeProvider? time = null, TimeSpan racyWindow = default)
    {
        _source = source;
        _time = time ?? TimeProvider.System;
        _racyWindow = racyWindow;
    }

    /// <summary>
    /// False where the folder cannot hold the owner-executable bit (<see cref="ExecutableBitProbe"/>): fingerprints then
    /// carry a null (unknown) bit. Set by the engine at the start of a pass, before any read.
    /// </summary>
    public bool ReadsExecutableBit { get; set; } = true;

    /// <summary>How many files were read (tests use it to prove unchanged files are not re-read).</summary>
    public long FilesRead => Interlocked.Read(ref _filesRead);

    /// <summary>
    /// Racy reads since the last call (<see cref="FileFingerprint.Racy"/>), and how soon the soonest of them is past
    /// the stable age (when a re-read proves its content); resets both.
    /// </summary>
    public long TakeRacyReads(out TimeSpan? settlesIn)
    {
        lock (_racyLock)
        {
            var count = _racyReads;
            settlesIn = _racySettlesIn;
            _racyReads = 0;
            _racySettlesIn = null;
            return count;
        }
    }

    /// <summary>True (and counted) when content read from <paramref name="readAt"/> on cannot be vouched for by this mtime.</summary>
    private bool IsRacy(DateTime readAt, long mtimeTicks)
    {
        if (_racyWindow <= TimeSpan.Zero)
        {
            return false;
        }

        var age = readAt - new DateTime(mtimeTicks, DateTimeKind.Utc);
        if (age >= _racyWindow || age <= -_racyWindow)
        {
            return false;
        }

        var settlesIn = _racyWindow - age;
        lock (_racyLock)
        {
            _racyReads++;
            if (_racySettlesIn is null || settlesIn < _racySettlesIn)
            {
                _racySettlesIn = settlesIn;
            }
        }

        return true;
    }

    /// <summary>The fingerprint, or null when the file changed or vanished while it was read (retry later).</summary>
    public Task<FileFingerprint?> TryHashAsync(string fullPath, CancellationToken ct) => TryHashAsync(fullPath, null, ct);

    /// <summary>
    /// As <see cref="TryHashAsync(string, CancellationToken)"/>; with <paramref name="known"/> (the file's chunks as last
    /// synced, <see cref="KnownChunks"/>) its unchanged chunks are identified by their fast hash, and the fingerprint
    /// carries every chunk's fast hash (<see cref="FileFingerprint.FastHashes"/>) to be recorded for the next read.
    /// </summary>
    public async Task<FileFingerprint?> TryHashAsync(string fullPath, KnownChunks? known, CancellationToken ct)
    {
        Interlocked.Increment(ref _filesRead);
        var readAt = _time.GetUtcNow().UtcDateTime;
        FileInfo before;
        try
        {
            var ctime = FileChangeTime.TryGet(fullPath); // first: a write after this moves it
            before = new FileInfo(fullPath);
            if (!before.Exists)
            {
                return null;
            }

            var chunks = new List<ChunkRef>();
            var fast = known is null ? null : new FastHashes();
            await using (var stream = OpenRead(fullPath))
            {
                await foreach (var chunk in _source.ReadAsync(stream, keepData: false, known, ct).ConfigureAwait(false))
                {
                    using (chunk)
                    {
                        chunks.Add(ChunkRef.Raw(chunk.Ref.Id, chunk.Ref.Size));
                        fast?.Add(chunk.FastHash);
                    }
                }
            }

            var after = new FileInfo(fullPath);
            if (!after.Exists || FileStamp.Of(after) != FileStamp.Of(before) || !FileChangeTime.IsUnchanged(fullPath, ctime))
            {
                return null;
            }

            long total = 0;
            foreach (var c in chunks)
            {
                total += c.Size;
            }

            if (total != before.Length)
            {
                return null;
            }

            return new FileFingerprint(before.Length, before.LastWriteTimeUtc.Ticks, chunks, FileVersion.ComputeContentHash(chunks.Select(c => c.Id)))
            {
                Racy = IsRacy(readAt, before.LastWriteTimeUtc.Ticks),
                ChangeTimeNs = ctime,
                Executable = ReadBit(fullPath),
                FastHashes = fast?.List,
            };
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Reads a file once, front to back, handing each chunk with its bytes to <paramref name="sink"/> (which owns it from
    /// then on and answers false to stop the read), and returns the file's fingerprint. Null when the file is not as the
    /// scan saw it (<paramref name="size"/>, <paramref name="mtimeTicks"/>, and its ctime) before or after the read, grew past
    /// its size while read (the read stops there), vanished, or the sink stopped: whatever the sink did with the chunks,
    /// they must not be committed as this file. With <paramref name="fastHash"/> the fingerprint also carries each
    /// chunk's fast hash under it (<see cref="FileFingerprint.FastHashes"/>); every chunk is still hashed with SHA-256,
    /// since its bytes may be sent.
    /// </summary>
    public async Task<FileFingerprint?> TryStreamAsync(string fullPath, long size, long mtimeTicks, Func<SourceChunk, ValueTask<bool>> sink, CancellationToken ct, ChunkFastHash? fastHash = null)
    {
        Interlocked.Increment(ref _filesRead);
        var readAt = _time.GetUtcNow().UtcDateTime;
        var ctime = FileChangeTime.TryGet(fullPath); // first: a write after this moves it
        if (!IsAsScanned(fullPath, size, mtimeTicks))
        {
            return null;
        }

        var chunks = new List<ChunkRef>();
        var fast = fastHash is null ? null : new FastHashes();
        long total = 0;
        try
        {
            await using var stream = OpenRead(fullPath);
            await foreach (var chunk in _source.ReadAsync(stream, keepData: true, fastHash is null ? null : KnownChunks.None(fastHash), ct).ConfigureAwait(false))
            {
                chunks.Add(ChunkRef.Raw(chunk.Ref.Id, chunk.Ref.Size));
                fast?.Add(chunk.FastHash);
                total += chunk.Ref.Size;
                if (total > size)
                {
                    chunk.Dispose();
                    return null; // grew while read: stop now rather than read (and send) the rest
                }

                if (!await sink(chunk).ConfigureAwait(false))
                {
                    return null;
                }
            }
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }

        if (total != size || !IsAsScanned(fullPath, size, mtimeTicks, ctime))
        {
            return null;
        }

        return new FileFingerprint(size, mtimeTicks, chunks, FileVersion.ComputeContentHash(chunks.Select(c => c.Id))) { Racy = IsRacy(readAt, mtimeTicks), ChangeTimeNs = ctime, Executable = ReadBit(fullPath), FastHashes = fast?.List };
    }

    /// <summary>
    /// Reads a small file whole, once: its chunks with their bytes (dispose them) and its fingerprint. Null when the
    /// file is not as the scan saw it (<paramref name="size"/>, <paramref name="mtimeTicks"/>) or changed while read.
    /// With <paramref name="arena"/> the bytes are read into a slice of it (each chunk holds the arena until disposed);
    /// without one, or when it has no room left, into an array of their own.
    /// </summary>
    public async Task<(FileFingerprint Fingerprint, List<SourceChunk> Chunks)?> TryReadAsync(string fullPath, long size, long mtimeTicks, CancellationToken ct, ReadArena? arena = null)
    {
        Interlocked.Increment(ref _filesRead);
        var readAt = _time.GetUtcNow().UtcDateTime;
        long? ctime;
        if (FileChangeTime.TryStat(fullPath) is { } seen)
        {
            ctime = seen.CtimeNs; // one call: a write after it moves the ctime
            if (!seen.IsFileAs(size, mtimeTicks))
            {
                return null; // nothing opened: gone, a link, a FIFO, a device, a folder, or changed
            }
        }
        else
        {
            ctime = FileChangeTime.TryGet(fullPath); // first: a write after this moves it
            if (!IsAsScanned(fullPath, size, mtimeTicks))
            {
                return null;
            }
        }

        List<SourceChunk>? chunks = null;
        try
        {
            var slice = Memory<byte>.Empty;
            var inArena = arena?.TryTake(checked((int)size), out slice) == true;
            var data = inArena ? slice : GC.AllocateUninitializedArray<byte>(checked((int)size));
            if (!TryReadExactly(fullPath, data.Span))
            {
                return null; // shorter or longer than scanned: it changed
            }

            chunks = await _source.CutWholeAsync(data, ct).ConfigureAwait(false);
            if (inArena)
            {
                for (var i = 0; i < chunks.Count; i++)
                {
                    chunks[i] = arena!.Lease(chunks[i]);
                }
            }

            long total = 0;
            var refs = new List<ChunkRef>(chunks.Count);
            foreach (var c in chunks)
            {
                total += c.Ref.Size;
                refs.Add(ChunkRef.Raw(c.Ref.Id, c.Ref.Size));
            }

            // The check after the read gives the executable bit too, from the same statx (one call where two were).
            var after = FileChangeTime.TryStat(fullPath);
            var asScanned = after is { } s
                ? s.IsFileAs(size, mtimeTicks) && (ctime is null || s.CtimeNs == ctime)
                : IsAsScanned(fullPath, size, mtimeTicks, ctime);
            if (total == size && asScanned)
            {
                var executable = !ReadsExecutableBit ? null : after is { } seenAfter ? ExecutableBit.Of(seenAfter.Permissions) : ReadBit(fullPath);
                var result = (new FileFingerprint(size, mtimeTicks, refs, FileVersion.ComputeContentHash(refs.Select(r => r.Id))) { Racy = IsRacy(readAt, mtimeTicks), ChangeTimeNs = ctime, Executable = executable }, chunks);
                chunks = null;
                return result;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Vanished or unreadable: the caller hands it to the one-file path, which reports it.
        }
        finally
        {
            foreach (var c in chunks ?? [])
            {
                c.Dispose();
            }
        }

        return null;
    }

    /// <summary>
    /// Fills <paramref name="data"/> with the file's bytes; false when the file does not hold exactly that many (shorter
    /// or longer: it changed). Reads at most one byte more than <paramref name="data"/> holds whatever the file has grown
    /// to, with one open and (for a small file) two reads, the file and one byte past it: no stream, no pipeline per file.
    /// Read by libc's calls where <see cref="WholeFileRead"/> can (false too when it cannot be opened); elsewhere through
    /// the runtime, which throws as <see cref="File.OpenHandle"/> does.
    /// </summary>
    public static bool TryReadExactly(string fullPath, Span<byte> data)
    {
        if (WholeFileRead.TryReadExactly(fullPath, data) is { } read)
        {
            return read;
        }

        using var handle = File.OpenHandle(fullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var filled = 0;
        while (filled < data.Length)
        {
            var n = RandomAccess.Read(handle, data[filled..], filled);
            if (n == 0)
            {
                return false; // shorter
            }

            filled += n;
        }

        return RandomAccess.Read(handle, stackalloc byte[1], filled) == 0; // one byte more: longer
    }

    /// <summary>True when the file exists with exactly this size and mtime (nothing wrote to it since it was seen so).</summary>
    public static bool IsAsScanned(string fullPath, long size, long mtimeTicks)
    {
        if (FileChangeTime.TryStat(fullPath) is { } stat)
        {
            return stat.IsFileAs(size, mtimeTicks);
        }

        var info = new FileInfo(fullPath);
        return info.Exists && FileStamp.Of(info) == new FileStamp(size, mtimeTicks);
    }

    /// <summary>
    /// As <see cref="IsAsScanned(string, long, long)"/>, and the inode change time is still <paramref name="ctimeNs"/>
    /// (when known): a write that restored the mtime still moves the ctime.
    /// </summary>
    public static bool IsAsScanned(string fullPath, long size, long mtimeTicks, long? ctimeNs) =>
        FileChangeTime.TryStat(fullPath) is { } stat
            ? stat.IsFileAs(size, mtimeTicks) && (ctimeNs is null || stat.CtimeNs == ctimeNs)
            : IsAsScanned(fullPath, size, mtimeTicks) && FileChangeTime.IsUnchanged(fullPath, ctimeNs);

    /// <summary>Opens a file for sequential reading, sharing with writers so a busy file does not fail the pass.</summary>
    public static FileStream OpenRead(string fullPath) => new(fullPath, new FileStreamOptions
    {
        Mode = FileMode.Open,
        Access = FileAccess.Read,
        Share = FileShare.ReadWrite | FileShare.Delete,
        BufferSize = 0,
        Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
    });

    /// <summary>Collects each chunk's fast hash; a source that gave none for some chunk gives no list at all.</summary>
    private sealed class FastHashes
    {
        private List<UInt128>? _list = [];

        public IReadOnlyList<UInt128>? List => _list;

        public void Add(UInt128? hash)
        {
            if (hash is { } h)
            {
                _list?.Add(h);
            }
            else
            {
                _list = null;
            }
        }
    }

    private bool? ReadBit(string fullPath) => ReadsExecutableBit ? ExecutableBit.TryRead(fullPath) : null;
}
