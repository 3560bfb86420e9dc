using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dropbox.SyncClient.Sync;

/// <summary>Counters of one pass; thread-safe increments. Serializes to the <c>--json</c> summary line.</summary>
internal sealed class SyncSummary
{
    private long _filesUploaded, _filesDownloaded, _filesDeleted, _bytesUploaded, _chunksUploaded, _chunksDeduplicated;
    private long _bytesDownloaded, _chunksDownloaded, _chunksReused, _conflicts, _errors, _filesMoved, _skipped, _repairs, _pending, _refused;

    public long FilesUploaded => Volatile.Read(ref _filesUploaded);
    public long FilesDownloaded => Volatile.Read(ref _filesDownloaded);
    public long FilesDeleted => Volatile.Read(ref _filesDeleted);
    public long BytesUploaded => Volatile.Read(ref _bytesUploaded);
    public long ChunksUploaded => Volatile.Read(ref _chunksUploaded);
    public long ChunksDeduplicated => Volatile.Read(ref _chunksDeduplicated);
    public long BytesDownloaded => Volatile.Read(ref _bytesDownloaded);
    public long ChunksDownloaded => Volatile.Read(ref _chunksDownloaded);
    public long ChunksReused => Volatile.Read(ref _chunksReused);
    public long Conflicts => Volatile.Read(ref _conflicts);
    public long Errors => Volatile.Read(ref _errors);
    public long FilesMoved => Volatile.Read(ref _filesMoved);
    public long Skipped => Volatile.Read(ref _skipped);
    public long Repairs => Volatile.Read(ref _repairs);

    /// <summary>
    /// Paths left for the next pass: still changing, or skipped for a reason a note names (a case clash, a move that could
    /// not run, a conflicted copy to send).
    /// </summary>
    public long Pending => Volatile.Read(ref _pending);

    public void AddPending() => Interlocked.Increment(ref _pending);

    /// <summary>
    /// Files this pass could not read (no permission, an I/O error): each left as it is on both sides (not uploaded,
    /// deleted or downloaded over) and looked at again later (see <see cref="RecheckAfter"/>); not an error of the pass.
    /// </summary>
    public long Unreadable => Volatile.Read(ref _unreadable);

    private long _unreadable;

    public void AddUnreadable() => Interlocked.Increment(ref _unreadable);

    /// <summary>
    /// Files whose content this pass read while their mtime was younger than the stable age (see
    /// <see cref="State.RacyClean"/>): the next pass past that age must read them again.
    /// </summary>
    public long Racy => Volatile.Read(ref _racy);

    private long _racy;

    /// <summary>Notes <paramref name="count"/> racy reads, the soonest provable <paramref name="settlesIn"/> from now.</summary>
    public void AddRacy(long count, TimeSpan settlesIn)
    {
        Interlocked.Add(ref _racy, count);
        RecheckWithin(settlesIn);
    }

    /// <summary>
    /// How soon the soonest pending file could be judged settled, when the stability rule could tell (null: a
    /// pending file that changed while it was read or uploaded, which the next pass judges afresh).
    /// </summary>
    public TimeSpan? RecheckAfter
    {
        get
        {
            lock (_recheckLock)
            {
                return _recheckAfter;
            }
        }
    }

    private readonly Lock _recheckLock = new();
    private TimeSpan? _recheckAfter;

    /// <summary>Notes that a pending file could be settled <paramref name="delay"/> from now.</summary>
    public void RecheckWithin(TimeSpan delay)
    {
        lock (_recheckLock)
        {
            if (_recheckAfter is null || delay < _recheckAfter)
            {
                _recheckAfter = delay;
            }
        }
    }

    /// <summary>Entries the server sent that the client refused to apply (bad path, absurd size), each reported.</summary>
    public long Refused => Volatile.Read(ref _refused);

    /// <summary>What was refused and why: the path and the rule it broke.</summary>
    public List<string> Refusals { get; } = [];

    /// <summary>
    /// Notes an entry from the server that was refused. Unlike an error it does not hold the cursor back (asking again
    /// gets the same answer), but the pass still ends with a failing exit code so it is seen.
    /// </summary>
    public void AddRefused(string message)
    {
        Interlocked.Increment(ref _refused);
        lock (Refusals)
        {
            Refusals.Add(message);
        }
    }

    /// <summary>Messages for every error of the pass.</summary>
    public List<string> ErrorMessages { get; } = [];

    /// <summary>Notes worth showing (case clashes, skipped files, reconcile repairs).</summary>
    public List<string> Notes { get; } = [];

    public void AddFileUploaded() => Interlocked.Increment(ref _filesUploaded);
    public void AddFileDownloaded() => Interlocked.Increment(ref _filesDownloaded);
    public void AddFileDeleted() => Interlocked.Increment(ref _filesDeleted);
    public void AddFileMoved() => Interlocked.Increment(ref _filesMoved);
    public void AddBytesUploaded(long n) => Interlocked.Add(ref _bytesUploaded, n);
    public void AddChunksUploaded(long n) => Interlocked.Add(ref _chunksUploaded, n);
    public void AddChunksDeduplicated(long n) => Interlocked.Add(ref _chunksDeduplicated, n);
    public void AddBytesDownloaded(long n) => Interlocked.Add(ref _bytesDownloaded, n);
    public void AddChunksDownloaded(long n) => Interlocked.Add(ref _chunksDownloaded, n);
    public void AddChunksReused(long n) => Interlocked.Add(ref _chunksReused, n);
    public void AddConflict() => Interlocked.Increment(ref _conflicts);
    public void AddSkipped() => Interlocked.Increment(ref _skipped);

    public void AddRepair(string what)
    {
        Interlocked.Increment(ref _repairs);
        AddNote("repaired: " + what);
    }

    public void AddError(string message)
    {
        Interlocked.Increment(ref _errors);
        lock (ErrorMessages)
        {
            ErrorMessages.Add(message);
        }
    }

    public void AddNote(string message)
    {
        lock (Notes)
        {
            Notes.Add(message);
        }
    }

    /// <summary>The one-line JSON object printed by <c>sync --json</c>.</summary>
    /// <remarks>
    /// Written field by field with a <see cref="Utf8JsonWriter"/> (same escaping as the serializer's defaults, same
    /// bytes): serializing a <c>Dictionary&lt;string, object&gt;</c> built the reflection serializer's converters for
    /// every primitive type, ~60 methods JIT-compiled at every run of the client (the precompiled image lacks them).
    /// </remarks>
    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("filesUploaded", FilesUploaded);
            w.WriteNumber("filesDownloaded", FilesDownloaded);
            w.WriteNumber("filesDeleted", FilesDeleted);
            w.WriteNumber("bytesUploaded", BytesUploaded);
            w.WriteNumber("chunksUploaded", ChunksUploaded);
            w.WriteNumber("chunksDeduplicated", ChunksDeduplicated);
            w.WriteNumber("bytesDownloaded", BytesDownloaded);
            w.WriteNumber("conflicts", Conflicts);
            w.WriteNumber("errors", Errors);
            w.WriteNumber("filesMoved", FilesMoved);
            w.WriteNumber("chunksDownloaded", ChunksDownloaded);
            w.WriteNumber("chunksReused", ChunksReused);
            w.WriteNumber("skipped", Skipped);
            w.WriteNumber("repairs", Repairs);
            w.WriteNumber("pending", Pending);
            w.WriteNumber("unreadable", Unreadable);
            w.WriteNumber("refused", Refused);
            w.WriteNumber("peakMemoryBytes", PeakMemoryBytes());
            WriteStrings(w, "refusals", Snapshot(Refusals));
            WriteStrings(w, "errorMessages", Snapshot(ErrorMessages));
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, string[] values)
    {
        w.WriteStartArray(name);
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }

    /// <summary>The first messages of a list (the counts say how many there were), so the line stays bounded.</summary>
    private static string[] Snapshot(List<string> list)
    {
        lock (list)
        {
            return [.. list.Take(100)];
        }
    }

    /// <summary>The client process's peak resident memory so far (VmHWM on Linux), for anyone watching its footprint.</summary>
    private static long PeakMemoryBytes()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    /// <summary>A one-line human summary.</summary>
    public override string ToString() =>
        $"up {FilesUploaded} file(s) ({Format.Bytes(BytesUploaded)}, {ChunksUploaded} chunk(s), {ChunksDeduplicated} deduplicated), " +
        $"down {FilesDownloaded} file(s) ({Format.Bytes(BytesDownloaded)}, {ChunksDownloaded} chunk(s) fetched, {ChunksReused} reused), " +
        $"{FilesMoved} moved, {FilesDeleted} deleted, {Conflicts} conflict(s), {Errors} error(s)" +
        (Refused > 0 ? $", {Refused} refused from the server" : string.Empty) +
        (Pending > 0 ? $", {Pending} left for the next pass" : string.Empty) +
        (Unreadable > 0 ? $", {Unreadable} could not be read (left as they are, see the notes)" : string.Empty);
}
