using System.Buffers;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// Recovery's one walk over an append-only file of self-checking records, whatever their format: intact records
/// are handed on in order; a complete record whose body fails its checksum with an intact header right after it is
/// damage in the middle (reported, skipped); anything else that is not an intact record ends the walk: the torn
/// tail starts there, and the owner cuts it (or reports it, for a file that is no longer appended to).
/// </summary>
internal static class FrameScanner
{
    /// <summary>Reads bytes at an offset; returns how many were read (fewer only at the end).</summary>
    public delegate int Reader(Span<byte> destination, long offset);

    /// <summary>Called for each intact record: its header, offset, and body (valid only during the call).</summary>
    public delegate void RecordHandler<THeader>(in THeader header, long offset, ReadOnlySpan<byte> body);

    /// <summary>Walks records from <paramref name="from"/> to <paramref name="length"/>; returns where the intact records end.</summary>
    public static long Scan<THeader>(IFrameFormat<THeader> format, Reader read, long from, long length, RecordHandler<THeader> onRecord, Action<long> onDamaged)
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
