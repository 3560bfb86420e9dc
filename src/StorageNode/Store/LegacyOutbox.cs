using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// Upgrades an outbox written before the durable-log frame (records <c>u16 length | body | xxhash3 u64</c>, a text
/// "delivered" offset): its undelivered events are written to a framed log beside it, the delivered mark is
/// reset, and the new log is renamed over the old one. A crash midway leaves the old outbox (events are at most
/// delivered again, which the metadata node ignores) or the new one.
/// </summary>
internal static class LegacyOutbox
{
    /// <summary>Upgrades the outbox at <paramref name="logPath"/> if it is in the old format; false if it is not.</summary>
    public static bool TryUpgrade(IEngineFiles files, string logPath, string deliveredPath)
    {
        if (!files.FileExists(logPath))
        {
            return false;
        }

        byte[] bytes;
        using (var file = files.Open(logPath, FileMode.Open))
        {
            bytes = new byte[checked((int)file.Length)];
            bytes = bytes[..Engine.EngineFileReads.ReadFully(file, bytes, 0)];
        }

        if (bytes.Length == 0)
        {
            // An older build's empty log: its text mark may still hold the old end, which would fall inside the
            // log once it grows again.
            if (RecordFile.TryRead(files, deliveredPath, OutboxCodecs.Delivered.Instance, out _, out _) == RecordFileContent.Legacy)
            {
                RecordFile.Replace(files, deliveredPath, 0L, OutboxCodecs.Delivered.Instance);
            }

            return false;
        }

        if (LogFrame.StartsWithMagic(bytes) || ContainsIntactFrame(bytes))
        {
            // A framed log, possibly with its first bytes damaged: the log's own scan reports and skips the damage.
            return false;
        }

        var delivered = ReadDelivered(files, deliveredPath);
        var events = new List<StoredChunkEvent>();
        var valid = 0;
        var pending = new List<StoredChunkEvent>();
        while (TryParse(bytes.AsSpan(valid), out var e, out var used))
        {
            if (valid >= delivered)
            {
                pending.Add(e);
            }

            events.Add(e);
            valid += used;
        }

        if (delivered > valid)
        {
            // The old outbox emptied its log after a full delivery and the mark kept the old end.
            pending = events;
        }

        var temp = logPath + ".upgrade";
        using (var file = files.Open(temp, FileMode.Create))
        {
            file.Write(RecordLog<StoredChunkEvent>.Encode(pending, OutboxCodecs.Event.Instance), 0);
            file.Flush();
        }

        RecordFile.Replace(files, deliveredPath, 0L, OutboxCodecs.Delivered.Instance);
        files.Move(temp, logPath);
        files.SyncDirectory(Path.GetDirectoryName(logPath)!);
        return true;
    }

    /// <summary>The delivered offset in either format (0 if missing or unreadable).</summary>
    public static long ReadDelivered(IEngineFiles files, string path) =>
        RecordFile.TryRead(files, path, OutboxCodecs.Delivered.Instance, out var delivered, out var legacy) switch
        {
            RecordFileContent.Record => delivered,
            RecordFileContent.Legacy when long.TryParse(Encoding.ASCII.GetString(legacy).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var d) => d,
            _ => 0,
        };

    /// <summary>True if an intact framed record starts anywhere in <paramref name="bytes"/> (never by chance in an old-format log).</summary>
    private static bool ContainsIntactFrame(ReadOnlySpan<byte> bytes)
    {
        Span<byte> magic = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(magic, LogFrame.Magic);
        for (var pos = bytes.IndexOf(magic); pos >= 0;)
        {
            if (LogFrame.TryReadHeader(bytes[pos..], out var header)
                && bytes.Length - pos - LogFrame.HeaderSize >= header.BodyLength
                && LogFrame.BodyMatches(header, bytes.Slice(pos + LogFrame.HeaderSize, header.BodyLength)))
            {
                return true;
            }

            var next = bytes[(pos + 1)..].IndexOf(magic);
            pos = next < 0 ? -1 : pos + 1 + next;
        }

        return false;
    }

    private static bool TryParse(ReadOnlySpan<byte> source, out StoredChunkEvent chunkEvent, out int used)
    {
        chunkEvent = null!;
        used = 0;
        if (source.Length < 2)
        {
            return false;
        }

        var bodyLength = BinaryPrimitives.ReadUInt16LittleEndian(source);
        if (bodyLength < 42 || source.Length < 2 + bodyLength + 8)
        {
            return false;
        }

        var body = source.Slice(2, bodyLength);
        if (BinaryPrimitives.ReadUInt64LittleEndian(source[(2 + bodyLength)..]) != XxHash3.HashToUInt64(body) || 42 + body[41] != bodyLength)
        {
            return false;
        }

        chunkEvent = new StoredChunkEvent(
            new ChunkId(body[..32]),
            BinaryPrimitives.ReadInt32LittleEndian(body[32..]),
            (ChunkEncoding)body[40],
            BinaryPrimitives.ReadInt32LittleEndian(body[36..]),
            Encoding.UTF8.GetString(body.Slice(42, body[41])));
        used = 2 + bodyLength + 8;
        return true;
    }
}
