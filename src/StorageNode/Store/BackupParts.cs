using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.IO;
using Dropbox.StorageNode.Engine;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// This node's parts of online backups: BACKUP_DIR/NAME/&lt;data folder name&gt;, taken by <see cref="StoreSnapshot"/> and
/// removed again when the backup fails, is cancelled or is retired by retention. A part is always named by a checked
/// <see cref="BackupName"/>, never by a path; a removal waits for a snapshot of the same name still running here (one
/// its caller gave up on stops at its next cancellation check), so it cannot race the copy.
/// </summary>
public sealed class BackupParts
{
    private readonly string _folder;
    private readonly string _dataName;
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _created = new(StringComparer.Ordinal);

    /// <summary>Parts go under <paramref name="backupFolder"/>, each in NAME/<c>dataDirectory</c>'s last segment.</summary>
    public BackupParts(string backupFolder, string dataDirectory)
    {
        _folder = Path.GetFullPath(backupFolder).TrimEnd(Path.DirectorySeparatorChar);
        _dataName = Path.GetFileName(Path.GetFullPath(dataDirectory).TrimEnd(Path.DirectorySeparatorChar));
    }

    /// <summary>Runs after a removal has taken the name and before it removes anything (a test seam: nothing by default).</summary>
    internal Func<CancellationToken, Task> BeforeRemoval { get; init; } = _ => Task.CompletedTask;

    /// <summary>Takes this node's part of backup <paramref name="backupName"/>; see <see cref="StoreSnapshot.TakeAsync(IChunkEngine, NodeId, string, TimeSpan, CancellationToken)"/>.</summary>
    public async Task<StoreSnapshotResult> TakeAsync(IChunkEngine engine, NodeId nodeId, string backupName, TimeSpan holdWait, CancellationToken cancellationToken)
    {
        var root = Root(backupName);
        var destination = Path.Combine(root, _dataName);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var key = Path.GetFileName(root);
        if (!_running.TryAdd(key, done.Task))
        {
            throw new Shared.Errors.DropboxException(Shared.Errors.ErrorKind.AlreadyExists, $"A snapshot or a removal of backup '{key}' is already under way on this node; nothing was written.");
        }

        try
        {
            // Created only while this call holds the name: a removal of the same name (which takes it too) cannot delete
            // the folder between its creation and the snapshot's first file.
            PrivateFolder.Create(root);
            if (!Directory.Exists(destination) && !Directory.Exists(destination + ".partial"))
            {
                _created[key] = 0; // its .partial, if one is left, is this process's own
            }

            return await StoreSnapshot.TakeAsync(engine, nodeId, destination, holdWait, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(KeyValuePair.Create(key, done.Task)); // only this call's own entry
            done.TrySetResult();
        }
    }

    /// <summary>
    /// Removes this node's part of backup <paramref name="backupName"/>, after any snapshot of that name still running
    /// here has stopped, then BACKUP_DIR/NAME if that left it empty. Only what this node wrote goes: a NAME/&lt;data&gt;
    /// folder whose <c>node-id</c> file names <paramref name="nodeId"/>, or a <c>.partial</c> this process created. Anything
    /// else is left alone, since other parts may share the folder (<c>standalone</c>, or a backup disk shared by nodes whose
    /// data folders have one name: the metadata checkpoint, its keys, another node's part). Symbolic links are never
    /// followed nor removed. Returns false if there was nothing of this node's.
    /// </summary>
    public async Task<bool> DeleteAsync(string backupName, NodeId nodeId, CancellationToken cancellationToken)
    {
        var root = Root(backupName);
        var key = Path.GetFileName(root);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        while (!_running.TryAdd(key, done.Task))
        {
            // A snapshot (or another removal) of that name is under way here: it stops first.
            if (_running.TryGetValue(key, out var running))
            {
                await running.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        try
        {
            await BeforeRemoval(cancellationToken).ConfigureAwait(false);
            return RemoveOwnParts(root, key, nodeId);
        }
        finally
        {
            _running.TryRemove(KeyValuePair.Create(key, done.Task)); // only this call's own entry
            done.TrySetResult();
        }
    }

    private bool RemoveOwnParts(string root, string key, NodeId nodeId)
    {
        var folder = new DirectoryInfo(root);
        if (folder.LinkTarget is not null || !folder.Exists)
        {
            return false;
        }

        var removed = false;
        var part = new DirectoryInfo(Path.Combine(root, _dataName));
        if (part.LinkTarget is null && part.Exists && WrittenBy(part.FullName, nodeId))
        {
            part.Delete(recursive: true);
            removed = true;
        }

        // A .partial this process created, or one a snapshot of this node left when the node was killed mid-copy (its
        // node-id, written first, names this node; no snapshot of the name runs here now: this call holds the name).
        var partial = new DirectoryInfo(Path.Combine(root, _dataName + ".partial"));
        if (partial.LinkTarget is null && partial.Exists && (_created.ContainsKey(key) || WrittenBy(partial.FullName, nodeId)) && TryRemovePartial(partial))
        {
            removed = true;
        }

        _created.TryRemove(key, out _);
        try
        {
            if (!folder.EnumerateFileSystemInfos().Any())
            {
                folder.Delete();
                DirectorySync.Flush(_folder);
            }
            else if (removed)
            {
                DirectorySync.Flush(root);
            }
        }
        catch (DirectoryNotFoundException)
        {
            // Another node sharing this backup folder removed the emptied folder first.
        }
        catch (IOException) when (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            // Another part arrived between the listing and the removal: the folder stays for it.
        }

        return removed;
    }

    /// <summary>
    /// At a start, before any snapshot runs: removes every BACKUP_DIR/NAME/&lt;data&gt;.partial that names
    /// <paramref name="nodeId"/>, left by a snapshot this node was killed in the middle of (never a finished part: those
    /// have no .partial suffix; never another node's: its node-id differs), then NAME if that emptied it. Symbolic links
    /// are neither followed nor removed. Returns the names whose .partial was removed.
    /// </summary>
    public IReadOnlyList<string> RemoveStalePartials(NodeId nodeId)
    {
        var removed = new List<string>();
        var folder = new DirectoryInfo(_folder);
        if (folder.LinkTarget is not null || !folder.Exists)
        {
            return removed;
        }

        foreach (var backup in folder.EnumerateDirectories())
        {
            if (backup.LinkTarget is not null || !BackupName.IsValid(backup.Name) || !_running.TryAdd(backup.Name, Task.CompletedTask))
            {
                continue;
            }

            try
            {
                var partial = new DirectoryInfo(Path.Combine(backup.FullName, _dataName + ".partial"));
                if (partial.LinkTarget is null && partial.Exists && WrittenBy(partial.FullName, nodeId) && TryRemovePartial(partial))
                {
                    removed.Add(backup.Name);
                    if (!backup.EnumerateFileSystemInfos().Any())
                    {
                        backup.Delete();
                        DirectorySync.Flush(_folder);
                    }
                    else
                    {
                        DirectorySync.Flush(backup.FullName); // the folder whose entry .partial was
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left as it was; a later removal of that backup (retention) tries again.
            }
            finally
            {
                _running.TryRemove(KeyValuePair.Create(backup.Name, Task.CompletedTask));
            }
        }

        return removed;
    }

    /// <summary>
    /// Removes a .partial unless a snapshot (in this process or another on the same data) still writes it: that snapshot
    /// holds its node-id file locked (<see cref="StoreSnapshot.LockOwner"/>). The node-id file goes last, so a kill in
    /// the middle leaves a .partial that still names its owner. False, and nothing removed, if it is locked.
    /// </summary>
    private static bool TryRemovePartial(DirectoryInfo partial)
    {
        var ownerFile = Path.Combine(partial.FullName, StoreSnapshot.NodeIdFile);
        FileStream? owner = null;
        if (File.Exists(ownerFile))
        {
            try
            {
                owner = StoreSnapshot.LockOwner(ownerFile);
            }
            catch (IOException)
            {
                return false; // still being written
            }
        }

        using (owner)
        {
            foreach (var entry in partial.EnumerateFileSystemInfos())
            {
                if (string.Equals(entry.Name, StoreSnapshot.NodeIdFile, StringComparison.Ordinal))
                {
                    continue;
                }

                if (entry is DirectoryInfo folder && folder.LinkTarget is null)
                {
                    folder.Delete(recursive: true);
                }
                else
                {
                    entry.Delete();
                }
            }

            if (owner is not null)
            {
                File.Delete(ownerFile);
            }
        }

        partial.Delete();
        return true;
    }

    /// <summary>
    /// Whether the part at <paramref name="part"/> has a node-id file naming <paramref name="nodeId"/> (a snapshot writes it
    /// first, and holds it locked while it copies).
    /// </summary>
    private static bool WrittenBy(string part, NodeId nodeId)
    {
        var file = new FileInfo(Path.Combine(part, StoreSnapshot.NodeIdFile));
        if (file.LinkTarget is not null || !file.Exists || file.Length > 4096)
        {
            return false;
        }

        try
        {
            return string.Equals(File.ReadAllText(file.FullName).Trim(), nodeId.Value, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>BACKUP_DIR/NAME for a checked name; the check (and the parent comparison) keep every path inside BACKUP_DIR.</summary>
    private string Root(string backupName)
    {
        var root = Path.GetFullPath(Path.Combine(_folder, BackupName.Validate(backupName)));
        return string.Equals(Path.GetDirectoryName(root), _folder, StringComparison.Ordinal)
            ? root
            : throw new Shared.Errors.DropboxException(Shared.Errors.ErrorKind.InvalidArgument, $"'{backupName}' is not a backup name; nothing was changed.");
    }
}
