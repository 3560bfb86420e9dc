using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Protos.Metadata;
using Google.Protobuf;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Storage;

/// <summary>
/// Maps the stored schema (store_records.proto) to and from the messages the store works with, in one place: the
/// disk format changes only here, never because the sync API changed.
/// </summary>
internal static class StoredFormat
{
    /// <summary>Reads a Files CF value.</summary>
    public static FileRecord ReadFile(ReadOnlySpan<byte> bytes)
    {
        var stored = StoredFile.Parser.ParseFrom(bytes);
        if (stored.Entry is null)
        {
            throw new InvalidDataException("A file record has no entry.");
        }

        return new FileRecord { Current = ToEntry(stored.Entry), VersionCount = stored.VersionCount, Read = stored };
    }

    /// <summary>
    /// A Files CF value. A record read from the store is written back over the message it was read from, so fields
    /// this release does not know survive (those of the entry too, while the entry is unchanged).
    /// </summary>
    public static byte[] WriteFile(FileRecord record)
    {
        var stored = record.Read?.Clone() ?? new StoredFile();
        if (stored.Entry is null || !ToEntry(stored.Entry).Equals(record.Current))
        {
            stored.Entry = ToStored(record.Current);
        }

        stored.VersionCount = record.VersionCount;
        return stored.ToByteArray();
    }

    /// <summary>Reads a Versions CF value.</summary>
    public static FileEntry ReadVersion(ReadOnlySpan<byte> bytes) => ToEntry(StoredEntry.Parser.ParseFrom(bytes));

    /// <summary>A Versions CF value.</summary>
    public static byte[] WriteVersion(FileEntry entry) => ToStored(entry).ToByteArray();

    /// <summary>Reads a Changes CF value.</summary>
    public static Change ReadChange(ReadOnlySpan<byte> bytes)
    {
        var stored = StoredChange.Parser.ParseFrom(bytes);
        return new Change
        {
            Sequence = stored.Sequence,
            Kind = (ChangeKind)stored.Kind,
            Entry = stored.Entry is null ? null : ToEntry(stored.Entry),
            OldPath = stored.OldPath,
        };
    }

    /// <summary>A Changes CF value.</summary>
    public static byte[] WriteChange(Change change) =>
        new StoredChange
        {
            Sequence = change.Sequence,
            Kind = (StoredChangeKind)change.Kind,
            Entry = change.Entry is null ? null : ToStored(change.Entry),
            OldPath = change.OldPath,
        }.ToByteArray();

    private static FileEntry ToEntry(StoredEntry stored)
    {
        var entry = new FileEntry
        {
            Path = stored.Path,
            Version = stored.Version,
            Size = stored.Size,
            MtimeUnixMs = stored.MtimeUnixMs,
            Deleted = stored.Deleted,
            Kind = (EntryKind)stored.Kind,
            ContentHash = stored.ContentHash,
            ModifiedBy = stored.ModifiedBy,
            ServerTimeUnixMs = stored.ServerTimeUnixMs,
            Executable = stored.Executable,
        };
        foreach (var c in stored.Chunks)
        {
            entry.Chunks.Add(new Proto.ChunkRef { Id = c.Id, Size = c.Size, Encoding = (Proto.ChunkEncoding)c.Encoding, StoredSize = c.StoredSize });
        }

        return entry;
    }

    private static StoredEntry ToStored(FileEntry entry)
    {
        var stored = new StoredEntry
        {
            Path = entry.Path,
            Version = entry.Version,
            Size = entry.Size,
            MtimeUnixMs = entry.MtimeUnixMs,
            Deleted = entry.Deleted,
            Kind = (StoredEntryKind)entry.Kind,
            ContentHash = entry.ContentHash,
            ModifiedBy = entry.ModifiedBy,
            ServerTimeUnixMs = entry.ServerTimeUnixMs,
            Executable = entry.Executable,
        };
        foreach (var c in entry.Chunks)
        {
            stored.Chunks.Add(new StoredChunkRef { Id = c.Id, Size = c.Size, Encoding = (StoredEncoding)c.Encoding, StoredSize = c.StoredSize });
        }

        return stored;
    }
}
