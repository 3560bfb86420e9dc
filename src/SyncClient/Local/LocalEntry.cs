using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Local;

/// <summary>A path as found in the sync folder by a scan (stat only; content is read only when needed).</summary>
internal sealed record LocalEntry(string Path, FileKind Kind, long Size, long MtimeTicks)
{
    /// <summary>
    /// The owner-executable bit (<see cref="ExecutableBit"/>); false for folders, null (unknown) where the folder cannot
    /// hold it (<see cref="ExecutableBitProbe"/>): an unknown bit is never compared nor sent.
    /// </summary>
    public bool? Executable { get; init; }
}
