using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>The newest remote state of a path that changed since the client's cursor.</summary>
internal sealed record RemoteEntry(string Path, FileKind Kind, ulong Version, bool Deleted, long Size, byte[] ContentHash, long MtimeUnixMs)
{
    /// <summary>For the new path of a remote move: where it came from.</summary>
    public string? MovedFrom { get; init; }

    /// <summary>For the old path of a remote move: where it went.</summary>
    public string? MovedTo { get; init; }

    /// <summary>The version's owner-executable bit.</summary>
    public bool Executable { get; init; }

    /// <summary>A remote entry from the wire form.</summary>
    public static RemoteEntry From(FileEntry e, bool deleted, ulong version) => new(
        e.Path,
        e.Kind == EntryKind.Folder ? FileKind.Folder : FileKind.File,
        version,
        deleted,
        (long)e.Size,
        e.ContentHash.ToByteArray(),
        e.MtimeUnixMs)
    {
        Executable = e.Executable,
    };
}
