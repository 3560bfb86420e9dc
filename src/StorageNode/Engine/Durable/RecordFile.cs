using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// A file that holds one current record in the <see cref="LogFrame"/> format, replaced whole (temp file, fsync,
/// rename, fsync the directory): the old or the new record survives, and a torn or rotten one is detected by its
/// checksum rather than misread. Used where a log would only ever be read for its last record.
/// </summary>
internal static class RecordFile
{
    /// <summary>Replaces the record; <paramref name="durable"/> false skips both fsyncs (losing it must be harmless).</summary>
    public static void Replace<T>(IEngineFiles files, string path, T record, ILogRecordCodec<T> codec, bool durable = true)
    {
        var temp = path + ".tmp";
        using (var file = files.Open(temp, FileMode.Create))
        {
            file.Write(RecordLog<T>.Encode([record], codec), 0);
            if (durable)
            {
                file.Flush();
            }
        }

        files.Move(temp, path);
        if (durable)
        {
            files.SyncDirectory(Path.GetDirectoryName(path)!);
        }
    }

    /// <summary>
    /// Reads the file: <see cref="RecordFileContent.Missing"/>, <see cref="RecordFileContent.Record"/> (the last intact
    /// record), <see cref="RecordFileContent.Unreadable"/> (framed, but no intact record) or
    /// <see cref="RecordFileContent.Legacy"/> (not framed: an older format, raw bytes in <paramref name="legacy"/>).
    /// </summary>
    public static RecordFileContent TryRead<T>(IEngineFiles files, string path, ILogRecordCodec<T> codec, out T record, out byte[] legacy)
    {
        record = default!;
        legacy = [];
        if (!files.FileExists(path))
        {
            return RecordFileContent.Missing;
        }

        byte[] bytes;
        using (var file = files.Open(path, FileMode.Open))
        {
            bytes = new byte[(int)Math.Min(file.Length, 1 << 20)];
            var total = 0;
            while (total < bytes.Length)
            {
                var n = file.Read(bytes.AsSpan(total), total);
                if (n == 0)
                {
                    break;
                }

                total += n;
            }

            bytes = bytes[..total];
        }

        if (bytes.Length > 0 && !LogFrame.StartsWithMagic(bytes))
        {
            legacy = bytes;
            return RecordFileContent.Legacy;
        }

        var scan = RecordLog<T>.Scan(bytes, codec, path);
        if (scan.Records.Count == 0)
        {
            return RecordFileContent.Unreadable;
        }

        record = scan.Records[^1].Record;
        return RecordFileContent.Record;
    }
}
