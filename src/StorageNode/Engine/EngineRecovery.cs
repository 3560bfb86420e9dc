using System.Collections.Concurrent;
using System.Globalization;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Recovery, in one place: makes the folders durable, reads the positions file, recovers the index checkpoint it
/// names (or rebuilds the index), replays the segments after that position, cuts a torn tail off the last segment,
/// drops index entries that point nowhere, and lists the quarantine. What it finds is the state the engine runs on.
/// The node's other durable log, the "chunk stored" event outbox, is recovered here too
/// (<see cref="RecoverMarkedLog"/>): its older format upgraded, its torn tail cut, damage reported, a stale
/// delivered mark reset.
/// </summary>
internal sealed class EngineRecovery
{
    private readonly EngineOptions _options;
    private readonly IEngineFiles _files;
    private readonly ILogger _logger;

    private EngineRecovery(EngineOptions options, ILogger logger, ChunkIndex index)
    {
        _options = options;
        _files = options.Files;
        _logger = logger;
        Index = index;
    }

    /// <summary>The recovered index.</summary>
    public ChunkIndex Index { get; private set; }

    /// <summary>Every segment, open for reading.</summary>
    public ConcurrentDictionary<int, Segment> Segments { get; } = new();

    /// <summary>Chunks in the quarantine folder and not in the index.</summary>
    public ConcurrentDictionary<ChunkId, byte> Quarantined { get; } = new();

    /// <summary>The last segment, open for appending, or null if a new one must be started (none, or full).</summary>
    public Segment? Active { get; private set; }

    /// <summary>True if the index was rebuilt from every segment (no usable checkpoint).</summary>
    public bool RebuiltIndex { get; private set; }

    /// <summary>True if the positions file named a checkpoint that could not be recovered.</summary>
    public bool CheckpointLost { get; private set; }

    /// <summary>The checkpoint the positions file names and the index was recovered from.</summary>
    public Guid? NamedCheckpoint { get; private set; }

    /// <summary>Where replay started.</summary>
    public (int Segment, long Offset) Start { get; private set; }

    /// <summary>Records replayed into the index.</summary>
    public long Replayed { get; private set; }

    /// <summary>
    /// Recovers a durable log read from a delivered mark (the event outbox): runs <paramref name="upgrade"/> (an older
    /// format rewritten in place; true if it did), opens the log in <paramref name="directory"/>'s
    /// <paramref name="logName"/> cutting a torn tail, reports damaged records, and resets durably a mark
    /// (<paramref name="markName"/>) that no record starts at, before anything is appended: once the log grew past it
    /// again it would count new records as delivered. Re-delivering is harmless (the receiver ignores repeats).
    /// <paramref name="readMark"/> reads the mark (0 if missing or unreadable), <paramref name="markCodec"/> writes it.
    /// </summary>
    public static MarkedLogRecovery<T> RecoverMarkedLog<T>(
        IEngineFiles files,
        string directory,
        string logName,
        string markName,
        ILogRecordCodec<T> codec,
        ILogRecordCodec<long> markCodec,
        Func<string, long> readMark,
        Func<string, string, bool> upgrade,
        ILogger logger)
    {
        files.CreateDirectory(directory);

        // The folder's own entry must be durable before a record in it is acknowledged.
        files.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(directory))!);
        var logPath = Path.Combine(directory, logName);
        var markPath = Path.Combine(directory, markName);
        if (upgrade(logPath, markPath))
        {
            EngineLog.LogUpgraded(logger, directory);
        }

        var mark = readMark(markPath);
        var log = RecordLog<T>.Open(files, logPath, codec, out var scan);
        try
        {
            foreach (var offset in scan.Damaged)
            {
                EngineLog.LogRecordDamaged(logger, logPath, offset);
            }

            if (scan.TornBytes > 0)
            {
                EngineLog.LogTornTail(logger, logPath, scan.ValidLength, scan.TornBytes);
            }

            if (mark != 0 && !IsRecordBoundary(scan, mark))
            {
                // Past the end: the log was emptied after full delivery and the write of mark 0 was lost (or an
                // older build left its mark beside an empty log). Elsewhere: no record starts there.
                EngineLog.StaleMark(logger, markPath, mark, log.Length);
                mark = 0;
                RecordFile.Replace(files, markPath, 0L, markCodec);
            }

            return new MarkedLogRecovery<T>(log, logPath, markPath, mark, scan.Records.Count(r => r.Offset >= mark));
        }
        catch
        {
            log.Dispose();
            throw;
        }
    }

    private static bool IsRecordBoundary<T>(LogScan<T> scan, long offset) =>
        offset == scan.ValidLength || scan.Records.Exists(r => r.Offset == offset) || scan.Damaged.Contains(offset);

    /// <summary>Runs recovery of the engine folder in <paramref name="options"/>.</summary>
    public static EngineRecovery Run(EngineOptions options, ILogger logger)
    {
        var files = options.Files;
        var layout = EngineLayout.Of(options);
        files.CreateDirectory(options.Directory);
        files.CreateDirectory(layout.Segments);
        files.CreateDirectory(layout.Index);
        files.CreateDirectory(layout.Quarantine);

        // The folders' own entries must be durable before anything in them is acknowledged.
        files.SyncDirectory(options.Directory);

        var positions = PositionsFile.Read(files, layout.Positions);
        if (positions is null && Directory.Exists(layout.Faster))
        {
            Directory.Delete(layout.Faster, recursive: true);
        }

        var recovery = new EngineRecovery(options, logger, new ChunkIndex(layout.Faster, options)) { RebuiltIndex = positions is null };
        try
        {
            if (positions is { } p)
            {
                recovery.RecoverCheckpoint(p, layout.Faster);
            }

            recovery.ReplaySegments(layout);
            return recovery;
        }
        catch
        {
            recovery.Index.Dispose();
            foreach (var segment in recovery.Segments.Values)
            {
                segment.Appender?.Dispose();
                segment.Retire();
            }

            throw;
        }
    }

    private void RecoverCheckpoint(Positions positions, string fasterDir)
    {
        if (Index.TryRecover(positions.Token))
        {
            Start = (positions.Segment, positions.Offset);
            NamedCheckpoint = positions.Token;
            return;
        }

        EngineLog.RebuildingIndex(_logger, positions.Token);
        RebuiltIndex = true;
        CheckpointLost = true;
        Index.Dispose();
        Directory.Delete(fasterDir, recursive: true);
        Index = new ChunkIndex(fasterDir, _options);
    }

    private void ReplaySegments(EngineLayout layout)
    {
        // The format is known from the file name, never guessed from the bytes: a segment is only ever cut as the
        // format its name says it is.
        var formats = new SortedDictionary<int, SegmentFormat>();
        foreach (var format in (ReadOnlySpan<SegmentFormat>)[SegmentFormat.Legacy, SegmentFormat.Framed])
        {
            foreach (var file in _files.ListFiles(layout.Segments, Segment.Extension(format)))
            {
                if (!int.TryParse(Path.GetFileNameWithoutExtension(file), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
                {
                    continue;
                }

                if (!formats.TryAdd(n, format))
                {
                    // An older build run on this folder after an upgrade (not supported) started its own segment n.
                    throw new LogFormatException(
                        $"{layout.Segments} holds both {Segment.FileName(n, SegmentFormat.Legacy)} and {Segment.FileName(n, SegmentFormat.Framed)}: "
                        + "an older build wrote to this data folder after a newer one had (downgrading is not supported). Restore the folder from a backup.");
                }
            }
        }

        var numbers = formats.Keys.ToList();
        foreach (var (number, format) in formats)
        {
            var path = Path.Combine(layout.Segments, Segment.FileName(number, format));
            var handle = _files.Open(path, FileMode.Open);
            try
            {
                Segments[number] = new Segment(number, path, handle, handle.Length, format, Segment.OpenDirectReads(_files, path, _options.DirectReads), _logger);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        for (var i = 0; i < numbers.Count; i++)
        {
            var segment = Segments[numbers[i]];
            if (segment.Number < Start.Segment)
            {
                continue;
            }

            var from = segment.Number == Start.Segment ? Math.Min(Start.Offset, segment.Length) : 0;
            Replayed += Replay(segment, from, isLast: i == numbers.Count - 1);
        }

        foreach (var (id, location) in Index.Snapshot())
        {
            if (Segments.TryGetValue(location.Segment, out var segment))
            {
                segment.LiveBytes += location.RecordLength;
                segment.LiveCount++;
            }
            else
            {
                EngineLog.DanglingEntry(_logger, id.ToShortString(), location.Segment);
                Index.Delete(id);
            }
        }

        foreach (var file in _files.ListFiles(layout.Quarantine, ".chunk"))
        {
            if (ChunkId.TryParse(Path.GetFileNameWithoutExtension(file), out var id) && !Index.TryGet(id, out _))
            {
                Quarantined[id] = 0;
            }
        }

        var last = numbers.Count > 0 ? Segments[numbers[^1]] : null;
        // A legacy segment is read in place but never appended to: new records start a framed segment.
        if (last is not null && last.Length < _options.SegmentMaxBytes && last.Format == SegmentFormat.Framed)
        {
            last.Appender = SegmentAppender.Open(_files, last.Path, last.Length, _options.DirectWrites);
            Active = last;
        }
    }

    /// <summary>Applies the records of a segment from an offset to the index; cuts a torn tail off the last one.</summary>
    private long Replay(Segment segment, long from, bool isLast)
    {
        long count = 0;
        void Apply(in RecordHeader record, long offset)
        {
            if (record.Kind == RecordKind.Chunk)
            {
                Index.Upsert(record.Id, new ChunkLocation(segment.Number, offset, record.StoredLength, record.PlainLength, record.Encoding));
            }
            else
            {
                Index.Delete(record.Id);
            }

            count++;
        }

        // A complete record whose payload rotted is followed by more valid records only if it was acknowledged
        // long ago: it is skipped (scrub reports it) rather than cutting the good records after it.
        void Skipped(long offset) => EngineLog.SkippedRottenRecord(_logger, segment.Number, offset);

        var codec = SegmentRecordCodec.Instance;
        var pos = segment.Format == SegmentFormat.Framed
            ? FrameScanner.Scan(
                new LogFrameFormat<RecordHeader>(codec, segment.Path),
                segment.Handle.Read,
                from,
                segment.Length,
                (in FrameHeader frame, long offset, ReadOnlySpan<byte> body) => Apply(codec.Read(frame.BodyVersion, body), offset),
                Skipped)
            : FrameScanner.Scan(
                LegacySegmentRecordFormat.Instance,
                segment.Handle.Read,
                from,
                segment.Length,
                (in RecordHeader record, long offset, ReadOnlySpan<byte> _) => Apply(record, offset),
                Skipped);

        if (pos < segment.Length && IsPadding(segment, pos))
        {
            // Zeros a direct write padded the last block with, left by a stop before they were cut off.
            Cut(segment, pos);
        }

        if (pos < segment.Length)
        {
            if (isLast)
            {
                EngineLog.TruncatedTail(_logger, segment.Number, pos, segment.Length - pos);
                Cut(segment, pos);
            }
            else
            {
                EngineLog.CorruptClosedSegment(_logger, segment.Number, pos);
            }
        }

        return count;
    }

    private static void Cut(Segment segment, long length)
    {
        segment.Handle.SetLength(length);
        segment.Handle.Flush();
        segment.Length = length;
    }

    private static bool IsPadding(Segment segment, long pos)
    {
        var rest = segment.Length - pos;
        if (rest >= SegmentAppender.BlockSize)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[SegmentAppender.BlockSize];
        bytes = bytes[..(int)rest];
        return segment.Handle.Read(bytes, pos) == bytes.Length && !bytes.ContainsAnyExcept((byte)0);
    }
}
