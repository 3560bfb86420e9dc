using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Google.Protobuf;

namespace Dropbox.MetadataNode.Storage;

/// <summary>
/// Maps the stored schema (store_records.proto) to and from the domain's entries, changes and storage nodes, in one
/// place: the disk format changes only here, never because the sync API changed.
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
    public static PathEntry ReadVersion(ReadOnlySpan<byte> bytes) => ToEntry(StoredEntry.Parser.ParseFrom(bytes));

    /// <summary>A Versions CF value.</summary>
    public static byte[] WriteVersion(PathEntry entry) => ToStored(entry).ToByteArray();

    /// <summary>Reads a Changes CF value.</summary>
    public static ChangeEntry ReadChange(ReadOnlySpan<byte> bytes)
    {
        var stored = StoredChange.Parser.ParseFrom(bytes);
        return new ChangeEntry(stored.Sequence, (ChangeType)stored.Kind, stored.Entry is null ? null : ToEntry(stored.Entry), stored.OldPath);
    }

    /// <summary>A Changes CF value.</summary>
    public static byte[] WriteChange(ChangeEntry change) =>
        new StoredChange
        {
            Sequence = change.Sequence,
            Kind = (StoredChangeKind)change.Kind,
            Entry = change.Entry is null ? null : ToStored(change.Entry),
            OldPath = change.OldPath,
        }.ToByteArray();

    /// <summary>Reads a Nodes CF value.</summary>
    public static NodeEntry ReadNode(ReadOnlySpan<byte> bytes)
    {
        var stored = NodeRecord.Parser.ParseFrom(bytes);
        var node = new StorageNodeInfo
        {
            NodeId = stored.NodeId,
            GrpcUrl = stored.GrpcUrl,
            HttpUrl = stored.HttpUrl,
            CapacityBytes = stored.CapacityBytes,
            UsedBytes = stored.UsedBytes,
            ChunkCount = stored.ChunkCount,
            LastHeartbeatUnixMs = stored.LastHeartbeatUnixMs,
            Draining = stored.Draining,
            Full = stored.Full,
        };
        return new NodeEntry(node, stored);
    }

    /// <summary>A Nodes CF value, written over the message the node was read from (fields this release does not know survive).</summary>
    public static byte[] WriteNode(NodeEntry entry)
    {
        var node = entry.Node;
        var stored = entry.Read?.Clone() ?? new NodeRecord();
        stored.NodeId = node.NodeId;
        stored.GrpcUrl = node.GrpcUrl;
        stored.HttpUrl = node.HttpUrl;
        stored.CapacityBytes = node.CapacityBytes;
        stored.UsedBytes = node.UsedBytes;
        stored.ChunkCount = node.ChunkCount;
        stored.LastHeartbeatUnixMs = node.LastHeartbeatUnixMs;
        stored.Draining = node.Draining;
        stored.Full = node.Full;
        return stored.ToByteArray();
    }

    /// <summary>Reads a forgotten-node value (Meta CF).</summary>
    public static ForgottenNodeEntry ReadForgottenNode(ReadOnlySpan<byte> bytes)
    {
        var stored = ForgottenNodeRecord.Parser.ParseFrom(bytes);
        return new ForgottenNodeEntry(new ForgottenNodeInfo(stored.NodeId, stored.ForgottenUnixMs, stored.LocationsCleared), stored);
    }

    /// <summary>A forgotten-node value, written over the message it was read from (fields this release does not know survive).</summary>
    public static byte[] WriteForgottenNode(ForgottenNodeEntry entry)
    {
        var stored = entry.Read?.Clone() ?? new ForgottenNodeRecord();
        stored.NodeId = entry.Node.NodeId;
        stored.ForgottenUnixMs = entry.Node.ForgottenUnixMs;
        stored.LocationsCleared = entry.Node.AllLocationsCleared;
        return stored.ToByteArray();
    }

    private static PathEntry ToEntry(StoredEntry stored)
    {
        var chunks = new ChunkRef[stored.Chunks.Count];
        for (var i = 0; i < chunks.Length; i++)
        {
            var c = stored.Chunks[i];
            chunks[i] = new ChunkRef(new ChunkId(c.Id.Span), (int)c.Size, (ChunkEncoding)c.Encoding, (int)c.StoredSize);
        }

        return new PathEntry
        {
            Path = stored.Path,
            Version = stored.Version,
            Size = stored.Size,
            MtimeUnixMs = stored.MtimeUnixMs,
            Chunks = chunks,
            Deleted = stored.Deleted,
            Kind = (PathKind)stored.Kind,
            ContentHash = stored.ContentHash.Memory,
            ModifiedBy = stored.ModifiedBy,
            ServerTimeUnixMs = stored.ServerTimeUnixMs,
            Executable = stored.Executable,
        };
    }

    private static StoredEntry ToStored(PathEntry entry)
    {
        var stored = new StoredEntry
        {
            Path = entry.Path,
            Version = entry.Version,
            Size = entry.Size,
            MtimeUnixMs = entry.MtimeUnixMs,
            Deleted = entry.Deleted,
            Kind = (StoredEntryKind)entry.Kind,
            ContentHash = entry.ContentHash.IsEmpty ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(entry.ContentHash),
            ModifiedBy = entry.ModifiedBy,
            ServerTimeUnixMs = entry.ServerTimeUnixMs,
            Executable = entry.Executable,
        };
        foreach (var c in entry.Chunks)
        {
            stored.Chunks.Add(new StoredChunkRef { Id = c.Id.ToByteString(), Size = (uint)c.Size, Encoding = (StoredEncoding)c.Encoding, StoredSize = (uint)c.StoredSize });
        }

        return stored;
    }
}
