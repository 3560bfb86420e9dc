namespace Dropbox.SyncClient.State;

/// <summary>
/// The part of a tracked path's <see cref="FileRecord"/> a pass needs to tell "unchanged" from "look closer": kept
/// per tracked path for the whole pass, so it is a small struct (no hash, no path copy beyond the dictionary key).
/// </summary>
/// <param name="Kind">File or folder.</param>
/// <param name="Size">Size in bytes when synced.</param>
/// <param name="MtimeTicks">Local last-write time (UTC ticks) when synced.</param>
/// <param name="Version">Remote version this path was last synced to.</param>
internal record struct BaseStat(FileKind Kind, long Size, long MtimeTicks, ulong Version)
{
    /// <summary>Set during a scan when the path was found as synced, with nothing to do for it.</summary>
    public bool Clean { get; set; }

    /// <summary>The owner-executable bit when synced (null: unknown, see <see cref="FileRecord.Executable"/>): a chmod alone makes the path not clean.</summary>
    public bool? Executable { get; init; }

    /// <summary>
    /// The recorded inode change time (ns, see <see cref="FileRecord.ChangeTimeNs"/>), 0 when unknown: a plain long, not a
    /// nullable one, so the per-path struct grows by 8 bytes, not 16 (no real ctime is the epoch itself).
    /// </summary>
    public long ChangeTimeNs { get; set; }

    /// <summary>The first 8 bytes of the synced content's hash (0: not known), enough to tell a reused version number from the synced state.</summary>
    public long HashPrefix { get; init; }

    /// <summary>The first 8 bytes of a content hash as a number (0 when shorter).</summary>
    public static long PrefixOf(ReadOnlySpan<byte> hash) =>
        hash.Length >= sizeof(long) ? System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(hash) : 0;

    /// <summary>
    /// Whether a remote state is the one synced: same kind and version and, for a file, same size and content. The
    /// content matters: a server that went back (restored from a backup) may hand the same number out again for
    /// other content, which must not be taken for an echo of what was synced.
    /// </summary>
    public readonly bool IsSyncedState(FileKind kind, ulong version, long size, ReadOnlySpan<byte> hash) =>
        Kind == kind && Version == version
        && (kind != FileKind.File || (Size == size && (HashPrefix == 0 || HashPrefix == PrefixOf(hash))));
}
