using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// One version of a path as the store keeps it: a file (its ordered chunks), a folder, or a tombstone. Stored as a
/// <c>StoredEntry</c> (Storage/StoredFormat); sent as the sync API's <c>FileEntry</c> (Services/Mapping).
/// </summary>
internal sealed record PathEntry
{
    /// <summary>The normalized path.</summary>
    public string Path { get; init; } = string.Empty;

    /// <summary>The namespace sequence that made this version.</summary>
    public ulong Version { get; init; }

    /// <summary>Plain size in bytes (0 for folders and tombstones).</summary>
    public ulong Size { get; init; }

    /// <summary>The client's modification time.</summary>
    public long MtimeUnixMs { get; init; }

    /// <summary>The file's chunks in order (none for folders and tombstones).</summary>
    public IReadOnlyList<ChunkRef> Chunks { get; init; } = [];

    /// <summary>A tombstone: the path was deleted at this version.</summary>
    public bool Deleted { get; init; }

    /// <summary>File or folder.</summary>
    public PathKind Kind { get; init; }

    /// <summary>SHA-256 over the concatenated chunk ids (32 bytes); empty for folders and tombstones.</summary>
    public ReadOnlyMemory<byte> ContentHash { get; init; }

    /// <summary>The device that made this version.</summary>
    public string ModifiedBy { get; init; } = string.Empty;

    /// <summary>When the server wrote this version.</summary>
    public long ServerTimeUnixMs { get; init; }

    /// <summary>The file is executable (POSIX +x); old records without the field read false.</summary>
    public bool Executable { get; init; }

    /// <summary>A live file (not a folder, not a tombstone).</summary>
    public bool IsLiveFile => !Deleted && Kind == PathKind.File;

    /// <summary>Equal field by field, the chunk list and content hash by value.</summary>
    public bool Equals(PathEntry? other) =>
        other is not null
        && string.Equals(Path, other.Path, StringComparison.Ordinal)
        && Version == other.Version
        && Size == other.Size
        && MtimeUnixMs == other.MtimeUnixMs
        && Deleted == other.Deleted
        && Kind == other.Kind
        && Executable == other.Executable
        && string.Equals(ModifiedBy, other.ModifiedBy, StringComparison.Ordinal)
        && ServerTimeUnixMs == other.ServerTimeUnixMs
        && ContentHash.Span.SequenceEqual(other.ContentHash.Span)
        && Chunks.SequenceEqual(other.Chunks);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Path, Version, Size, Deleted, Kind);
}
