using System.Buffers;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// Recovery's one walk over an append-only file of self-checking records, whatever their format: intact records
/// are handed on in order; a complete record whose body fails its checksum with an intact header right after it is
/// damage in the middle (reported, skipped); anything else that is not an intact record ends the walk: the torn
/// tail starts there, and the owner cuts it (or reports it, for a file that is no longer appended to). An owner that
/// asks for it (the durable log) also gets damage whose header rotted skipped, as long as an intact record follows.
/// </summary>
internal static class FrameScanner
{
    /// <summary>Reads bytes at an offset; returns how many were read (fewer only at the end).</summary>
    public delegate int Reader(Span<byte> destination, long offset);

    /// <summary>Called for each intact record: its header, offset, and body (valid only during the call).</summary>
    public delegate void RecordHandler<THeader>(in THeader header, long offset, ReadOnlySpan<byte> body);

    /// <summary>Walks records from <paramref name="from"/> to <paramref name="length"/>; returns where the intact records end.</summary>
    /// <param name="format">The record format.</param>
    /// <param name="read">Reads the file.</param>
    /// <param name="from">Where the first record starts.</param>
    /// <param name="length">Bytes in the file.</param>
    /// <param name="onRecord">Each intact record.</param>
    /// <param name="onDamaged">Where a damaged record (or damaged stretch) starts.</param>
    /// <param name="onSkipped">
    /// If given, a damaged header or body is not taken for a torn tail while an intact record follows anywhere
    /// after it: the walk reports the damage, calls this with the damaged stretch (start, where the next intact
    /// record starts) and goes on there. Only what no intact record follows is the torn tail.
    /// </param>
    public static long Scan<THeader>(IFrameFormat<THeader> format, Reader read, long from, long length, RecordHandler<THeader> onRecord, Action<long> onDamaged, Action<long, long>? onSkipped = null)
    {
        var headerBytes = new byte[format.HeaderSize];
        var body = ArrayPool<byte>.Shared.Rent(1 << 16);
        var pos = from;
        try
        {
            while (pos + format.HeaderSize <= length)
            {
                if (read(headerBytes, pos) != headerBytes.Length || !format.TryReadHeader(headerBytes, out var header))
                {
                    if (onSkipped is not null && FindIntactRecord(format, read, pos + 1, length, ref body) is var found and >= 0)
                    {
                        onDamaged(pos);
                        onSkipped(pos, found);
                        pos = found;
                        continue;
                    }

                    break;
                }

                var bodyLength = format.BodyLength(header);
                var next = pos + format.HeaderSize + (long)bodyLength;
                if (next > length)
                {
                    break;
                }

                if (body.Length < bodyLength)
                {
                    ArrayPool<byte>.Shared.Return(body);
                    body = ArrayPool<byte>.Shared.Rent(bodyLength);
                }

                var span = body.AsSpan(0, bodyLength);
                if (ReadFully(read, span, pos + format.HeaderSize) != bodyLength || !format.BodyMatches(header, span))
                {
                    // A torn batch ends the file; a bad record with an intact one after it is damage to report.
                    if (!HeaderAt(format, read, headerBytes, next, length))
                    {
                        if (onSkipped is not null && FindIntactRecord(format, read, next, length, ref body) is var found and >= 0)
                        {
                            onDamaged(pos);
                            onSkipped(pos, found);
                            pos = found;
                            continue;
                        }

                        break;
                    }

                    onDamaged(pos);
                    pos = next;
                    continue;
                }

                onRecord(header, pos, span);
                pos = next;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }

        return pos;
    }

    /// <summary>Where the first intact record (header and body) at or after <paramref name="from"/> starts; -1 if none.</summary>
    private static long FindIntactRecord<THeader>(IFrameFormat<THeader> format, Reader read, long from, long length, ref byte[] body)
    {
        var window = new byte[(1 << 16) + format.HeaderSize];
        for (var start = from; start + format.HeaderSize <= length; start += window.Length - format.HeaderSize)
        {
            var n = ReadFully(read, window, start);
            for (var i = 0; i + format.HeaderSize <= n; i++)
            {
                if (!format.TryReadHeader(window.AsSpan(i, format.HeaderSize), out var header))
                {
                    continue;
                }

                var candidate = start + i;
                var bodyLength = format.BodyLength(header);
                if (candidate + format.HeaderSize + (long)bodyLength > length)
                {
                    continue;
                }

                if (body.Length < bodyLength)
                {
                    ArrayPool<byte>.Shared.Return(body);
                    body = ArrayPool<byte>.Shared.Rent(bodyLength);
                }

                var span = body.AsSpan(0, bodyLength);
                if (ReadFully(read, span, candidate + format.HeaderSize) == bodyLength && format.BodyMatches(header, span))
                {
                    return candidate;
                }
            }
        }

        return -1;
    }

    private static bool HeaderAt<THeader>(IFrameFormat<THeader> format, Reader read, byte[] buffer, long pos, long length) =>
        pos + format.HeaderSize <= length && read(buffer, pos) == buffer.Length && format.TryReadHeader(buffer, out _);

    private static int ReadFully(Reader read, Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var n = read(destination[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
