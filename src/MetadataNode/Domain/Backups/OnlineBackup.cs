using System.Globalization;
using System.Text.Json;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.IO;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>
/// A consistent backup of a running appliance. The rule: every chunk the backed-up metadata references is in the
/// backed-up chunk stores. So garbage collection's deletes are held (none reaches a node from before the metadata
/// checkpoint to the end of the last storage snapshot), the metadata checkpoint is taken first (every chunk it
/// references was durable on its nodes before its commit), then each live storage node snapshots its store, and the
/// key ring is copied (without it no link or token signed before can be checked). Everything goes under the node's
/// own backup folder in a folder named by the UTC start (<see cref="BackupName"/>); a request names no path. One backup
/// at a time.
/// </summary>
internal sealed partial class OnlineBackup
{
    private readonly MetadataStore _store;
    private readonly IStoreSnapshotGateway _gateway;
    private readonly MetadataNodeOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _one = new(1, 1);

    public OnlineBackup(MetadataStore store, IStoreSnapshotGateway gateway, MetadataNodeOptions options, ILogger logger)
    {
        _store = store;
        _gateway = gateway;
        _options = options;
        _logger = logger;
    }

    /// <summary>Takes the backup; see the class summary. A node that fails its snapshot is named in the report (not complete).</summary>
    public Task<BackupReport> RunAsync(CancellationToken cancellationToken) => RunAsync(keep: 0, cancellationToken);

    /// <summary>
    /// Takes the backup, then, if <paramref name="keep"/> is above 0, applies retention (see <see cref="RetireAsync"/>):
    /// the newest <paramref name="keep"/> complete backups stay, older ones and every incomplete one go.
    /// </summary>
    public async Task<BackupReport> RunAsync(int keep, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var folder = _options.BackupFolder;
            PrivateFolder.Create(folder);
            var now = _options.Clock.GetUtcNow();
            string name, root;
            for (var attempt = 0; ; attempt++)
            {
                name = BackupName.For(now, attempt);
                root = Path.Combine(folder, name);
                if (!Directory.Exists(root))
                {
                    break;
                }
            }

            PrivateFolder.Create(root);
            var asked = new List<StorageNodeInfo>();
            BackupReport report;
            try
            {
                var metadataPath = Path.Combine(root, LeafName(_options.DataDirectory));
                var keysName = LeafName(_options.KeysDirectory);
                var keysPath = Path.Combine(root, keysName == Path.GetFileName(metadataPath) ? "keys" : keysName);
                List<NodeSnapshot> snapshots;
                var skipped = new List<string>();
                long missing;
                using (await _store.ChunkDeletions.HoldAsync(cancellationToken).ConfigureAwait(false))
                {
                    await Task.Run(() => _store.Engine.Checkpoint(metadataPath), cancellationToken).ConfigureAwait(false);
                    MarkRestored(metadataPath);
                    DirectorySync.Flush(metadataPath);
                    SnapshotFiles.CopyFolder(_options.KeysDirectory, keysPath);
                    var live = new List<StorageNodeInfo>();
                    foreach (var node in _store.Nodes.All().OrderBy(n => n.NodeId, StringComparer.Ordinal))
                    {
                        if (_store.Nodes.IsLive(node))
                        {
                            live.Add(node);
                        }
                        else
                        {
                            skipped.Add(node.NodeId);
                        }
                    }

                    asked.AddRange(live);
                    snapshots = [.. await Task.WhenAll(live.Select(n => SnapshotAsync(n, name, cancellationToken))).ConfigureAwait(false)];
                    cancellationToken.ThrowIfCancellationRequested(); // a cancelled call is a cancellation, not failed nodes

                    // Still under the hold: every chunk the checkpoint references must have a location among the nodes that
                    // wrote their snapshot; one held only by a skipped (not live) or failed node would be missing after a restore.
                    var covered = snapshots.Where(s => s.Error is null).Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);
                    missing = await Task.Run(() => CountUncovered(metadataPath, covered), cancellationToken).ConfigureAwait(false);
                }

                // A failed node's part (a .partial, or a folder it finished after this side gave up) is not in the backup: remove it.
                var failed = snapshots.Where(s => s.Error is not null).Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);
                await RemovePartsAsync(asked.Where(n => failed.Contains(n.NodeId)), name).ConfigureAwait(false);
                DirectorySync.Flush(root);
                report = new BackupReport(name, metadataPath, keysPath, snapshots, skipped, missing);
                if (report.Complete)
                {
                    BackupTaken(_logger, name, root, snapshots.Count, skipped.Count);
                }
                else
                {
                    BackupIncomplete(_logger, name, missing, string.Join("; ", snapshots.Where(s => s.Error is not null).Select(s => $"{s.NodeId}: {s.Error}")));
                }

                WriteManifest(root, report);
            }
            catch (Exception e)
            {
                // A failed or cancelled backup leaves nothing that looks like one (a restore requires the manifest), and
                // nothing on the storage nodes: every node asked for a snapshot is asked to remove its part.
                // If a node did not remove its part, the folder (with no manifest, so not a backup) stays as the record
                // of NAME: a later backup's retention (--keep) retries every node then.
                if (await RemovePartsAsync(asked, name).ConfigureAwait(false))
                {
                    TryRemove(root);
                }

                if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
                {
                    BackupCancelled(_logger, name);
                }

                throw;
            }

            // Outside the try: nothing retention does may remove the backup just written.
            // A retention error (say, the backup folder cannot be listed) does not hide the backup just written.
            if (keep > 0)
            {
                try
                {
                    report = report with { Removed = await RetireAsync(name, report.Complete, keep).ConfigureAwait(false) };
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    RetentionFailed(_logger, name, e);
                }
            }

            return report;
        }
        finally
        {
            _one.Release();
        }
    }

    /// <summary>
    /// Asks one node for its snapshot, within <see cref="MetadataNodeOptions.BackupNodeTimeout"/> (unbounded by default)
    /// and with <see cref="MetadataNodeOptions.BackupHoldTimeout"/> for the node's wait behind compaction or scrub: a node
    /// that does not answer in time is a failed node of an incomplete backup (it sees the cancellation and stops its
    /// copy before its folder looks whole), and the cluster's deletions are not held for it any longer. The call's own
    /// cancellation (the caller went away) is rethrown as one: gRPC reports it as a Cancelled status, which would
    /// otherwise read as a failed node.
    /// </summary>
    private async Task<NodeSnapshot> SnapshotAsync(StorageNodeInfo node, string name, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_options.BackupNodeTimeout != Timeout.InfiniteTimeSpan)
        {
            bounded.CancelAfter(_options.BackupNodeTimeout);
        }

        try
        {
            return await _gateway.SnapshotAsync(node, name, _options.BackupHoldTimeout, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (Exception) when (bounded.IsCancellationRequested)
        {
            return new NodeSnapshot(node.NodeId, string.Empty, 0, 0, 0, string.Create(CultureInfo.InvariantCulture,
                $"no snapshot within {_options.BackupNodeTimeout.TotalSeconds:0} s (--backup-node-timeout): the node is hung or its disk stalled, or its copy is slow because its --backup-dir is on another file system (every segment is copied, not hard-linked); raise --backup-node-timeout (0: no bound) or put the node's backup folder on its data file system"));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new NodeSnapshot(node.NodeId, string.Empty, 0, 0, 0, ex.Message);
        }
    }

    /// <summary>The file, written last and atomically, that says the backup finished: without it a folder is not a backup.</summary>
    internal const string ManifestFile = "manifest.json";

    /// <summary>Writes <see cref="ManifestFile"/>: the name, whether it is complete, the missing chunk count, the paths and the nodes.</summary>
    private static void WriteManifest(string root, BackupReport report)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("name", report.Name);
            json.WriteBoolean("complete", report.Complete);
            json.WriteNumber("missing_chunks", report.MissingChunks);
            json.WriteString("metadata", report.MetadataPath);
            json.WriteString("keys", report.KeysPath);
            json.WriteStartArray("storage");
            foreach (var node in report.Nodes)
            {
                json.WriteStartObject();
                json.WriteString("node_id", node.NodeId);
                json.WriteString("path", node.Path);
                json.WriteNumber("segments", node.Segments);
                json.WriteNumber("bytes", node.Bytes);
                if (node.Error is not null)
                {
                    json.WriteString("error", node.Error);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("skipped");
            foreach (var skipped in report.SkippedNodes)
            {
                json.WriteStringValue(skipped);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        AtomicFile.WriteAllBytes(Path.Combine(root, ManifestFile), buffer.ToArray());
        DirectorySync.Flush(root);
    }

    /// <summary>
    /// Asks each of <paramref name="nodes"/> to remove its part of backup <paramref name="name"/>, all at once, whatever
    /// the caller's cancellation (a cancelled backup is cleaned up too); each call is bounded by the gateway. Returns
    /// whether every node answered; a node that did not is logged with the folder to remove by hand.
    /// </summary>
    private async Task<bool> RemovePartsAsync(IEnumerable<StorageNodeInfo> nodes, string name)
    {
        var results = await Task.WhenAll(nodes.Select(async node =>
        {
            try
            {
                await _gateway.DeleteSnapshotAsync(node, name, CancellationToken.None).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                PartNotRemoved(_logger, name, node.NodeId, e.Message);
                return false;
            }
        })).ConfigureAwait(false);
        return results.All(r => r);
    }

    private void TryRemove(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            RemoveFailed(_logger, root, e);
        }
    }

    /// <summary>Writes the marker that makes the store, once opened from this backup, take new epochs and forget node addresses.</summary>
    private static void MarkRestored(string checkpoint)
    {
        using var stream = new FileStream(Path.Combine(checkpoint, MetadataStore.RestoredMarker), PrivateFile.CreateOptions());
        stream.Write("restored from an online backup\n"u8);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Referenced chunks (refcount &gt; 0) in the checkpoint at <paramref name="checkpoint"/> with no location in <paramref name="covered"/>.</summary>
    private static long CountUncovered(string checkpoint, HashSet<string> covered)
    {
        long missing = 0;
        using var snapshot = RocksEngine.Open(checkpoint);
        foreach (var (_, value) in snapshot.ScanAll(snapshot.Chunks))
        {
            var record = ChunkRecord.Parser.ParseFrom(value);
            if (record.Refcount > 0 && !record.Locations.Any(covered.Contains))
            {
                missing++;
            }
        }

        return missing;
    }

    private static string LeafName(string folder) => Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar));

    [LoggerMessage(EventId = 4060, Level = LogLevel.Information, Message = "Online backup {Name} written to {Root} with {Nodes} storage node snapshot(s); {Skipped} node(s) not live were left out")]
    private static partial void BackupTaken(ILogger logger, string name, string root, int nodes, int skipped);

    [LoggerMessage(EventId = 4063, Level = LogLevel.Error, Message = "A failed online backup's folder {Root} could not be removed; it has no manifest, so it is not a backup: remove it")]
    private static partial void RemoveFailed(ILogger logger, string root, Exception exception);

    [LoggerMessage(EventId = 4065, Level = LogLevel.Warning, Message = "Storage node {NodeId} did not remove its part of backup {Name} ({Reason}): remove BACKUP_DIR/{Name} on that node by hand, or let a later backup's retention retry")]
    private static partial void PartNotRemoved(ILogger logger, string name, string nodeId, string reason);

    [LoggerMessage(EventId = 4068, Level = LogLevel.Error, Message = "Online backup {Name} was written, but retention failed; older backups were not removed (the next --keep retries)")]
    private static partial void RetentionFailed(ILogger logger, string name, Exception exception);

    [LoggerMessage(EventId = 4064, Level = LogLevel.Information, Message = "Online backup {Name} was cancelled by its caller; its folder was removed")]
    private static partial void BackupCancelled(ILogger logger, string name);

    [LoggerMessage(EventId = 4061, Level = LogLevel.Error, Message = "Online backup {Name} is incomplete: {Missing} referenced chunk(s) are on no node whose snapshot it holds; failed snapshots: {Failures}")]
    private static partial void BackupIncomplete(ILogger logger, string name, long missing, string failures);
}
