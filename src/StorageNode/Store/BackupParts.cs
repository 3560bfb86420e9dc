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

    /// <summary>Parts go under <paramref name="backupFolder"/>, each in NAME/<c>dataDirectory</c>'s last segment.</summary>
    public BackupParts(string backupFolder, string dataDirectory)
    {
        _folder = Path.GetFullPath(backupFolder).TrimEnd(Path.DirectorySeparatorChar);
        _dataName = Path.GetFileName(Path.GetFullPath(dataDirectory).TrimEnd(Path.DirectorySeparatorChar));
    }

    /// <summary>Takes this node's part of backup <paramref name="backupName"/>; see <see cref="StoreSnapshot.TakeAsync(IChunkEngine, NodeId, string, TimeSpan, CancellationToken)"/>.</summary>
    public async Task<StoreSnapshotResult> TakeAsync(IChunkEngine engine, NodeId nodeId, string backupName, TimeSpan holdWait, CancellationToken cancellationToken)
    {
        var root = Root(backupName);
        var destination = Path.Combine(root, _dataName);
        PrivateFolder.Create(root);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var key = Path.GetFileName(root);
        if (!_running.TryAdd(key, done.Task))
        {
            throw new Shared.Errors.DropboxException(Shared.Errors.ErrorKind.AlreadyExists, $"A snapshot for backup '{key}' is already running on this node; nothing was written.");
        }

        try
        {
            return await StoreSnapshot.TakeAsync(engine, nodeId, destination, holdWait, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(key, out _);
            done.TrySetResult();
        }
    }

    /// <summary>
    /// Removes this node's part of backup <paramref name="backupName"/> (BACKUP_DIR/NAME/&lt;data&gt;, whole or
    /// <c>.partial</c>), after any snapshot of that name still running here has stopped, then BACKUP_DIR/NAME if that left
    /// it empty: other parts may share the folder (<c>standalone</c> puts the metadata checkpoint and every node's part in
    /// one). Returns false if there was nothing of this node's. A symbolic link is removed as a link, never followed.
    /// </summary>
    public async Task<bool> DeleteAsync(string backupName, CancellationToken cancellationToken)
    {
        var root = Root(backupName);
        if (_running.TryGetValue(Path.GetFileName(root), out var running))
        {
            await running.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var folder = new DirectoryInfo(root);
        if (folder.LinkTarget is not null)
        {
            folder.Delete();
            DirectorySync.Flush(_folder);
            return true;
        }

        if (!folder.Exists)
        {
            return false;
        }

        var removed = false;
        foreach (var part in new[] { Path.Combine(root, _dataName), Path.Combine(root, _dataName + ".partial") })
        {
            var info = new DirectoryInfo(part);
            if (info.LinkTarget is not null)
            {
                info.Delete();
                removed = true;
            }
            else if (info.Exists)
            {
                info.Delete(recursive: true);
                removed = true;
            }
        }

        if (!folder.EnumerateFileSystemInfos().Any())
        {
            folder.Delete();
            DirectorySync.Flush(_folder);
        }
        else if (removed)
        {
            DirectorySync.Flush(root);
        }

        return removed;
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
