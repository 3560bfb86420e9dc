using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.StorageNode.Engine;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// A consistent copy of a running node's chunk store for an online backup: its segment files and its node id, nothing
/// of the index (a node started on it rebuilds the index from the segments) and nothing of the record format. Sealed
/// segments never change, so they are hard-linked; the active one is copied up to its recorded length (written, possibly not yet fsynced), since a link
/// would let later appends and delete records into the backup, and so is the newest file whatever it is (a restored node
/// appends to it). Compaction and scrub wait while the files are taken.
/// </summary>
public static class StoreSnapshot
{
    /// <summary>Folder name of the segments, as the engine lays them out.</summary>
    public const string SegmentsFolder = "segments";

    /// <summary>
    /// Writes the snapshot to <paramref name="destination"/> (which must not exist): first under a <c>.partial</c>
    /// name, renamed into place once every file is durable, so a folder of that name is always a whole snapshot.
    /// </summary>
    public static async Task<StoreSnapshotResult> TakeAsync(IChunkEngine engine, NodeId nodeId, string destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(engine);
        destination = Path.GetFullPath(destination);
        var partial = destination + ".partial";
        if (Directory.Exists(destination) || Directory.Exists(partial))
        {
            throw new DropboxException(ErrorKind.AlreadyExists, $"A backup is already at '{destination}'; nothing was written.");
        }

        var segments = Path.Combine(partial, SegmentsFolder);
        PrivateFolder.Create(segments);
        int count = 0, linked = 0;
        long bytes = 0;
        try
        {
            using (var hold = await engine.HoldSegmentsAsync(cancellationToken).ConfigureAwait(false))
            {
                // The newest file in the snapshot is the one a node restored from it appends to: it is always a private
                // copy (an empty one if the active segment was empty), never a link shared with the live node or other backups.
                var all = hold.Segments;
                var newest = all.Count - 1;
                while (newest > 0 && all[newest].Length == 0 && !all[newest].Active)
                {
                    newest--;
                }

                for (var i = 0; i < all.Count; i++)
                {
                    var segment = all[i];
                    cancellationToken.ThrowIfCancellationRequested();
                    if (segment.Length == 0 && i != newest)
                    {
                        continue;
                    }

                    var target = Path.Combine(segments, Path.GetFileName(segment.Path));
                    if (segment.Active || i == newest)
                    {
                        SnapshotFiles.CopyPrefix(segment.Path, target, segment.Length);
                    }
                    else if (SnapshotFiles.LinkOrCopy(segment.Path, target))
                    {
                        linked++;
                    }

                    count++;
                    bytes += segment.Length;
                }
            }

            DirectorySync.Flush(segments);
            AtomicFile.WriteAllText(Path.Combine(partial, "node-id"), nodeId.Value + "\n");
            Directory.Move(partial, destination);
            DirectorySync.Flush(Path.GetDirectoryName(destination)!);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }

        return new StoreSnapshotResult(destination, count, linked, bytes);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the operator; the .partial name says it is not a backup.
        }
    }
}
