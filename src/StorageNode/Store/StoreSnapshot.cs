using System.Globalization;
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

    /// <summary>The file in a snapshot (and in its .partial, from the start) that names the node it was taken from.</summary>
    public const string NodeIdFile = "node-id";

    /// <summary>How long <see cref="TakeAsync"/> waits for compaction or scrub to let go of the segments by default.</summary>
    public static readonly TimeSpan DefaultHoldWait = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Writes the snapshot to <paramref name="destination"/> (which must not exist): first under a <c>.partial</c>
    /// name, renamed into place once every file is durable, so a folder of that name is always a whole snapshot.
    /// Waits at most <paramref name="holdWait"/> for the segments (compaction and scrub do not yield mid-pass), then
    /// fails with Unavailable; the copy is not bounded here, only by <paramref name="cancellationToken"/>, which is checked
    /// inside every copy and again just before the rename: a cancelled snapshot (the metadata node gave up on this node)
    /// never leaves a whole-looking folder.
    /// </summary>
    public static async Task<StoreSnapshotResult> TakeAsync(IChunkEngine engine, NodeId nodeId, string destination, CancellationToken cancellationToken) =>
        await TakeAsync(engine, nodeId, destination, DefaultHoldWait, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc cref="TakeAsync(IChunkEngine, NodeId, string, CancellationToken)"/>
    public static async Task<StoreSnapshotResult> TakeAsync(IChunkEngine engine, NodeId nodeId, string destination, TimeSpan holdWait, CancellationToken cancellationToken)
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
        FileStream? owner = null;
        try
        {
            // The node id goes in first: a .partial left by a node killed mid-copy names its owner, so that node removes
            // it at its next start or at the backup's removal (BackupParts), and never another node's. The file stays
            // locked (flock) until the copy ends: a sweep, in this process or another on the same data, skips a
            // .partial still being written; a kill releases the lock.
            owner = WriteOwner(Path.Combine(partial, NodeIdFile), nodeId);
            DirectorySync.Flush(partial);
            using (var hold = await HoldAsync(engine, holdWait, cancellationToken).ConfigureAwait(false))
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
                        SnapshotFiles.CopyPrefix(segment.Path, target, segment.Length, cancellationToken);
                    }
                    else if (SnapshotFiles.LinkOrCopy(segment.Path, target, cancellationToken))
                    {
                        linked++;
                    }

                    count++;
                    bytes += segment.Length;
                }
            }

            DirectorySync.Flush(segments);

            // Last chance before the folder looks whole: a caller that gave up (timeout) has marked this node failed.
            cancellationToken.ThrowIfCancellationRequested();
            Directory.Move(partial, destination);
            DirectorySync.Flush(Path.GetDirectoryName(destination)!);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
        finally
        {
            owner?.Dispose();
        }

        return new StoreSnapshotResult(destination, count, linked, bytes);
    }

    /// <summary>
    /// Opens a snapshot's node-id file with an exclusive lock (FileShare.None: flock LOCK_EX on Linux); throws IOException
    /// if a snapshot still writing that .partial holds it.
    /// </summary>
    internal static FileStream LockOwner(string nodeIdFile) => new(nodeIdFile, FileMode.Open, FileAccess.Read, FileShare.None);

    private static FileStream WriteOwner(string path, NodeId nodeId)
    {
        var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
        });
        try
        {
            file.Write(System.Text.Encoding.UTF8.GetBytes(nodeId.Value + "\n"));
            file.Flush(flushToDisk: true);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The segments, waited for at most <paramref name="holdWait"/>: compaction, scrub or another snapshot may hold them.</summary>
    private static async Task<SegmentHold> HoldAsync(IChunkEngine engine, TimeSpan holdWait, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(holdWait);
        try
        {
            return await engine.HoldSegmentsAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new DropboxException(ErrorKind.Unavailable, string.Create(CultureInfo.InvariantCulture,
                $"The store stayed busy for {holdWait.TotalSeconds:0} s (a compaction, a scrub pass or another snapshot holds the segments); no snapshot was written. Take the backup again later, or raise --backup-hold-timeout."));
        }
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
