using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Local;

/// <summary>A local file's content as read: its chunk list and content hash, with the stat it was read under.</summary>
internal sealed record FileFingerprint(long Size, long MtimeTicks, IReadOnlyList<ChunkRef> Chunks, byte[] ContentHash)
{
    /// <summary>
    /// Read while the mtime was younger than the stable age ("racily clean", as git calls it): a later write may
    /// keep this size and mtime (a write through a memory mapping, a filesystem stamping whole seconds), so the
    /// size and mtime cannot vouch that the bytes are still these. See <see cref="State.RacyClean"/>.
    /// </summary>
    public bool Racy { get; init; }

    /// <summary>
    /// The inode change time (ns, <see cref="FileChangeTime"/>) taken before the read; null where it cannot be read.
    /// A file whose ctime moved was written to, even if its size and mtime are as before.
    /// </summary>
    public long? ChangeTimeNs { get; init; }

    /// <summary>
    /// The owner-executable bit when the file was read (committed with the version); null where the folder cannot hold
    /// it (then a commit carries the previous version's bit forward, see <see cref="Sync.CarriedExecutableBit"/>).
    /// </summary>
    public bool? Executable { get; init; }

    /// <summary>
    /// Each chunk's <see cref="ChunkFastHash"/>, in the order of <see cref="Chunks"/>, when the read computed them (a
    /// large file read with a <see cref="Dropbox.Shared.Pipeline.KnownChunks"/> list); null otherwise. Recorded with the
    /// synced file, so that its next read can take the ids of unchanged chunks without SHA-256.
    /// </summary>
    public IReadOnlyList<UInt128>? FastHashes { get; init; }
}
