using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Google.Protobuf;

namespace Dropbox.MetadataNode.Services.Mapping;

/// <summary>
/// The sync API's messages to and from the domain's inputs and results, in one place: <see cref="SyncService"/> parses a
/// request with these, calls the domain, and writes the domain's answer back with these. The domain never sees a
/// wire message.
/// </summary>
internal static partial class SyncMapping
{
    /// <summary>A version of a path as the API's entry.</summary>
    public static FileEntry ToWire(PathEntry entry, bool withChunks = true)
    {
        var wire = new FileEntry
        {
            Path = entry.Path,
            Version = entry.Version,
            Size = entry.Size,
            MtimeUnixMs = entry.MtimeUnixMs,
            Deleted = entry.Deleted,
            Kind = (EntryKind)entry.Kind,
            ContentHash = entry.ContentHash.IsEmpty ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(entry.ContentHash),
            ModifiedBy = entry.ModifiedBy,
            ServerTimeUnixMs = entry.ServerTimeUnixMs,
            Executable = entry.Executable,
        };
        if (withChunks)
        {
            foreach (var chunk in entry.Chunks)
            {
                wire.Chunks.Add(chunk.ToProto());
            }
        }

        return wire;
    }

    /// <summary>A change of the log as the API's change.</summary>
    public static Change ToWire(ChangeEntry change) => new()
    {
        Sequence = change.Sequence,
        Kind = (ChangeKind)change.Kind,
        Entry = change.Entry is null ? null : ToWire(change.Entry),
        OldPath = change.OldPath,
    };

    /// <summary>The API's entry kind as the domain's.</summary>
    public static PathKind ToDomain(EntryKind kind) => (PathKind)kind;

    /// <summary>A page of the change log.</summary>
    public static ListChangesResponse ToResponse(ChangePage page)
    {
        var response = new ListChangesResponse { Cursor = page.Cursor, HasMore = page.HasMore };
        foreach (var change in page.Changes)
        {
            response.Changes.Add(ToWire(change));
        }

        return response;
    }

    /// <summary>A page of a listing.</summary>
    public static ListFilesResponse ToResponse(FileListing listing)
    {
        var response = new ListFilesResponse { Cursor = listing.Cursor, HasMore = listing.HasMore };
        foreach (var entry in listing.Entries)
        {
            response.Entries.Add(ToWire(entry));
        }

        return response;
    }

    /// <summary>A path's retained versions, newest first; those in <paramref name="damaged"/> marked so.</summary>
    public static ListVersionsResponse ToVersionsResponse(IReadOnlyList<PathEntry> versions, IReadOnlySet<ulong>? damaged = null)
    {
        var response = new ListVersionsResponse();
        foreach (var entry in versions)
        {
            var wire = ToWire(entry);
            wire.Damaged = damaged?.Contains(entry.Version) == true;
            response.Versions.Add(wire);
        }

        return response;
    }

    /// <summary>A restore's new version.</summary>
    public static RestoreResponse ToRestoreResponse(Committed restored) => new() { Entry = ToWire(restored.Entry), Sequence = restored.Entry.Version };

    /// <summary>A move's new entry (the moved path itself; a folder's children follow in the log).</summary>
    public static MoveFileResponse ToMoveResponse(Committed moved) => new() { Entry = ToWire(moved.Entry), Sequence = moved.Entry.Version };

    /// <summary>A folder, new or already there.</summary>
    public static CreateFolderResponse ToFolderResponse(Committed folder) => new() { Entry = ToWire(folder.Entry), Sequence = folder.Entry.Version };

    /// <summary>A delete's sequence (its last change).</summary>
    public static DeleteFileResponse ToDeleteResponse(ulong sequence) => new() { Sequence = sequence };

    /// <summary>An account's summary.</summary>
    public static GetAccountResponse ToResponse(AccountSummary account) => new()
    {
        User = account.User,
        NamespaceId = account.NamespaceId,
        FileCount = account.FileCount,
        TotalBytes = account.TotalBytes,
        Cursor = account.Cursor,
    };

    /// <summary>A storage node's addresses as the API's location.</summary>
    public static ChunkLocation ToLocation(NodeAddress node) => new() { NodeId = node.NodeId, GrpcUrl = node.GrpcUrl, HttpUrl = node.HttpUrl };
}
