using System.Buffers;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// The durable-log primitive: an append-only file of typed, versioned, checksummed records (<see cref="LogFrame"/>).
/// <see cref="Append(IReadOnlyList{T})"/> writes without a barrier and <see cref="Sync"/> makes everything appended
/// so far durable with one fsync, so a group commit (<see cref="Shared.IO.GroupCommit{TItem, TBatch}"/>) can put
/// many appends behind one fsync. Opening scans the file once (<see cref="Scan"/>): a torn tail (never
/// acknowledged) is cut; damaged records in the middle (even with a rotten header, as long as an intact record
/// follows) are reported and skipped, keeping the records after them; a newer format is a clear error.
/// Appends and <see cref="Sync"/> come from one writer at a time; <see cref="Read"/> may run beside them.
/// </summary>
/// <typeparam name="T">The record.</typeparam>
internal sealed class RecordLog<T> : IDisposable
{
    private readonly IEngineFile _file;
    private readonly ILogRecordCodec<T> _codec;
    private readonly ArrayBufferWriter<byte> _buffer = new();
    private readonly Dictionary<long, long> _skips = [];
    private long _length;
    private long _durable;

    private RecordLog(IEngineFile file, string path, ILogRecordCodec<T> codec, long length)
    {
        _file = file;
        Path = path;
        _codec = codec;
        _length = length;
        _durable = length;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Bytes appended so far (durable or not).</summary>
    public long Length => _length;

    /// <summary>Bytes made durable by the last <see cref="Sync"/> (or found on open).</summary>
    public long DurableLength => Volatile.Read(ref _durable);

    /// <summary>Opens (or creates, durably) the log at <paramref name="path"/>, cutting a torn tail off.</summary>
    public static RecordLog<T> Open(IEngineFiles files, string path, ILogRecordCodec<T> codec, out LogScan<T> scan)
    {
        var created = !files.FileExists(path);
        var file = files.Open(path, created ? FileMode.CreateNew : FileMode.Open);
        try
        {
            if (created)
            {
                // Records fsynced into a file whose directory entry is not durable would vanish with it.
                files.SyncDirectory(System.IO.Path.GetDirectoryName(path)!);
            }

            scan = Scan(file.Read, file.Length, codec, path);
            if (scan.TornBytes > 0)
            {
                file.SetLength(scan.ValidLength);
                file.Flush();
            }

            var log = new RecordLog<T>(file, path, codec, scan.ValidLength);
            foreach (var (start, next) in scan.Skipped)
            {
                log._skips[start] = next;
            }

            return log;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the records of a log image: intact ones, damaged ones in the middle (skipped, reported), and where the
    /// torn tail starts. Throws <see cref="LogFormatException"/> for a frame or body version this build does not
    /// know or a record of another type.
    /// </summary>
    public static LogScan<T> Scan(ReadOnlySpan<byte> bytes, ILogRecordCodec<T> codec, string path)
    {
        var copy = bytes.ToArray();
        return Scan((destination, offset) => Slice(copy, destination, offset), copy.Length, codec, path);
    }

    /// <summary>The same walk over a file of <paramref name="length"/> bytes read through <paramref name="read"/>.</summary>
    public static LogScan<T> Scan(FrameScanner.Reader read, long length, ILogRecordCodec<T> codec, string path)
    {
        var scan = new LogScan<T>();
        scan.ValidLength = FrameScanner.Scan(
            new LogFrameFormat<T>(codec, path),
            read,
            0,
            length,
            (in FrameHeader header, long offset, ReadOnlySpan<byte> body) =>
                scan.Records.Add((codec.Read(header.BodyVersion, body), offset, offset + header.FrameLength)),
            scan.Damaged.Add,
            (start, next) => scan.Skipped.Add((start, next)));
        scan.TornBytes = length - scan.ValidLength;
        return scan;
    }

    /// <summary>The frames of <paramref name="records"/>, back to back (for a file written whole).</summary>
    public static byte[] Encode(IReadOnlyList<T> records, ILogRecordCodec<T> codec)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var record in records)
        {
            EncodeTo(buffer, record, codec);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Appends records with one write, without a barrier; returns the offset after each.</summary>
    public long Append(IReadOnlyList<T> records)
    {
        _buffer.ResetWrittenCount();
        foreach (var record in records)
        {
            EncodeTo(_buffer, record, _codec);
        }

        if (_buffer.WrittenCount > 0)
        {
            try
            {
                _file.Write(_buffer.WrittenSpan, _length);
            }
            catch
            {
                // Leave no half-written group behind: the next append starts where this one did.
                TryCut(_length);
                throw;
            }

            _length += _buffer.WrittenCount;
        }

        return _length;
    }

    /// <summary>Appends one record without a barrier; returns the offset after it.</summary>
    public long Append(T record) => Append([record]);

    /// <summary>Makes every record appended so far durable (one fsync).</summary>
    public void Sync()
    {
        var length = _length;
        _file.Flush();
        Volatile.Write(ref _durable, length);
    }

    /// <summary>After a failed <see cref="Sync"/>: drops what was appended since the last durable point (its callers failed).</summary>
    public void Rollback()
    {
        _length = DurableLength;
        TryCut(_length);
    }

    /// <summary>
    /// Up to <paramref name="max"/> durable records from <paramref name="from"/>, each with the offset after it. Read
    /// through a <see cref="ReadWindow"/> of <see cref="ReadWindow.Bytes"/> (larger for a larger frame): one read for many small records,
    /// where a read of each header and one of each body made two system calls per record (20,000 reads of the event
    /// outbox for 10,000 small files put).
    /// </summary>
    public List<(T Record, long End)> Read(long from, int max)
    {
        var records = new List<(T, long)>();
        var end = DurableLength;
        using var window = new ReadWindow(_file, end);
        var pos = from;
        while (records.Count < max && pos + LogFrame.HeaderSize <= end)
        {
            if (_skips.TryGetValue(pos, out var skipTo))
            {
                // Damage found on open (reported then): the next intact record starts here.
                pos = skipTo;
                continue;
            }

            // A frame the file no longer holds whole ends the read (the caller's mark stays before it), where it was
            // skipped before: moving the delivered mark past an unread event would lose it.
            if (!window.TryGet(pos, LogFrame.HeaderSize, out var headerBytes) || !LogFrame.TryReadHeader(headerBytes, out var header) || pos + header.FrameLength > end
                || !window.TryGet(pos, header.FrameLength, out var frame))
            {
                break;
            }

            var body = frame[LogFrame.HeaderSize..];
            if (LogFrame.BodyMatches(header, body))
            {
                records.Add((_codec.Read(header.BodyVersion, body), pos + header.FrameLength));
            }

            pos += header.FrameLength;
        }

        return records;
    }

    /// <summary>Empties the log durably.</summary>
    public void Truncate()
    {
        _file.SetLength(0);
        _file.Flush();
        _skips.Clear();
        _length = 0;
        Volatile.Write(ref _durable, 0);
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();

    private static void EncodeTo(ArrayBufferWriter<byte> buffer, T record, ILogRecordCodec<T> codec)
    {
        var size = codec.GetSize(record);
        var frame = buffer.GetSpan(LogFrame.HeaderSize + size)[..(LogFrame.HeaderSize + size)];
        var body = frame[LogFrame.HeaderSize..];
        codec.Write(record, body);
        LogFrame.WriteHeader(frame, codec.RecordType, codec.Version, body);
        buffer.Advance(frame.Length);
    }

    private static int Slice(byte[] bytes, Span<byte> destination, long offset)
    {
        var n = (int)Math.Clamp(bytes.Length - offset, 0, destination.Length);
        bytes.AsSpan((int)offset, n).CopyTo(destination);
        return n;
    }

    private void TryCut(long length)
    {
        try
        {
            _file.SetLength(length);
        }
        catch (IOException)
        {
            // The next append overwrites whatever is past the length anyway.
        }
    }
}
