using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class NamespaceFiles
{
    internal static bool IsLiveFile(PathEntry? entry) => entry is { Deleted: false, Kind: PathKind.File };

    internal static bool IsLive(PathEntry? entry) => entry is { Deleted: false };

    /// <summary>
    /// Makes <paramref name="entry"/> (its version already set to a fresh sequence) the current state of its
    /// path: writes the version, moves references, updates the namespace totals and prunes by count.
    /// </summary>
    internal void ApplyVersion(RecordBatch batch, NamespaceRecord ns, PathEntry entry, long now)
    {
        var file = batch.GetFile(ns.NamespaceId, entry.Path);
        var old = file?.Current;
        batch.PutVersion(ns.NamespaceId, entry);
        ChunkLedger.AddReferences(batch, ns.NamespaceId, entry, +1, now);
        if (IsLiveFile(old))
        {
            ns.FileCount--;
            ns.TotalBytes -= old!.Size;
        }

        if (IsLiveFile(entry))
        {
            ns.FileCount++;
            ns.TotalBytes += entry.Size;
        }

        var updated = new FileRecord { Current = entry, VersionCount = (file?.VersionCount ?? 0) + 1, Read = file?.Read };
        if (updated.VersionCount > _options.KeepVersions)
        {
            var excess = (int)updated.VersionCount - Math.Max(1, _options.KeepVersions);
            updated.VersionCount -= (uint)PruneOldest(batch, ns.NamespaceId, entry.Path, excess, entry.Version, now);
        }

        batch.PutFile(ns.NamespaceId, entry.Path, updated);
    }

    /// <summary>Removes up to <paramref name="count"/> oldest retained versions of a path (never <paramref name="keep"/>).</summary>
    private int PruneOldest(RecordBatch batch, string ns, string path, int count, ulong keep, long now)
    {
        var pruned = 0;
        foreach (var (_, value) in _engine.ScanPrefix(_engine.Versions, Keys.VersionPrefix(ns, path)))
        {
            if (pruned >= count)
            {
                break;
            }

            var version = StoredFormat.ReadVersion(value);
            if (version.Version == keep || batch.DeletesVersion(ns, path, version.Version))
            {
                continue; // kept, or already pruned earlier in this batch (two versions of one path in one batch)
            }

            batch.DeleteVersion(ns, path, version.Version);
            ChunkLedger.AddReferences(batch, ns, version, -1, now);
            pruned++;
        }

        return pruned;
    }

    /// <summary>Appends a change at the namespace's next sequence.</summary>
    internal static ChangeEntry AppendChange(RecordBatch batch, NamespaceRecord ns, ChangeType kind, PathEntry entry, string oldPath = "")
    {
        var change = new ChangeEntry(entry.Version, kind, entry, oldPath);
        batch.PutChange(ns.NamespaceId, change);
        return change;
    }

    /// <summary>
    /// Throws AlreadyExists if anything live sits under <paramref name="path"/>: there is a folder there (perhaps only
    /// implied by its entries), and a file may not cover it nor a move land on it.
    /// </summary>
    internal static void EnsureNothingLiveUnder(RecordBatch batch, string ns, string path)
    {
        string? live = null;
        batch.VisitCommittedFiles(Keys.FilePrefix(ns, path + "/"), (_, value) =>
        {
            var entry = StoredFormat.ReadFile(value).Current;
            if (entry.Deleted)
            {
                return true;
            }

            live = entry.Path;
            return false;
        });
        if (live is not null)
        {
            throw new DropboxException(ErrorKind.AlreadyExists, $"'{path}' is a folder: '{live}' is under it. Move or delete what is under it first, or pick another name.");
        }
    }

    /// <summary>Throws AlreadyExists if a live file sits where a folder of <paramref name="path"/> must be.</summary>
    internal static void EnsureParentsAreNotFiles(RecordBatch batch, string ns, string path)
    {
        var slash = path.LastIndexOf('/');
        while (slash > 0)
        {
            var parent = path[..slash];
            var record = batch.GetFile(ns, parent);
            if (record is not null && IsLiveFile(record.Current))
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{parent}' is a file, so '{path}' cannot be created under it. Move or delete '{parent}' first.");
            }

            slash = parent.LastIndexOf('/');
        }
    }

    /// <summary>
    /// The live entry at <paramref name="path"/> that a delete or move acts on: NotFound if there is none,
    /// a conflict if <paramref name="baseVersion"/> is set and stale.
    /// </summary>
    internal static PathEntry RequireLiveAtBase(RecordBatch batch, string ns, string path, ulong baseVersion)
    {
        var current = batch.GetFile(ns, path)?.Current;
        if (!IsLive(current))
        {
            throw new DropboxException(ErrorKind.NotFound, $"'{path}' does not exist (or is deleted).");
        }

        if (baseVersion != 0 && baseVersion != current!.Version)
        {
            throw CommitRefused.Conflict(path, baseVersion, current.Version).ToException();
        }

        return current!;
    }
}
