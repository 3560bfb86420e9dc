using System.Text.Json;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.IO;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>Retention (<c>backup --keep N</c>): older backups' metadata folders and storage parts removed.</summary>
internal sealed partial class OnlineBackup
{
    /// <summary>
    /// Keeps the newest <paramref name="keep"/> complete backups, counting <paramref name="current"/> (just written) if it
    /// is complete, and removes every older complete one and every incomplete one (a manifest saying not complete, or
    /// none: a failed backup's leftover). <paramref name="current"/> is never removed, complete or not, so the backup
    /// just made can always be looked at. Only folders named like a backup are considered. A backup is removed manifest
    /// first (from then on it is not a backup), then each storage node's part, then the folder; if a registered node
    /// does not answer, the folder (without its manifest) stays and the next retention retries. Returns the removed names.
    /// </summary>
    private async Task<IReadOnlyList<string>> RetireAsync(string current, bool currentComplete, int keep)
    {
        var folder = _options.BackupFolder;
        var older = new List<(string Name, RetainedManifest? Manifest)>();
        foreach (var entry in new DirectoryInfo(folder).EnumerateDirectories())
        {
            // A link (say, to an archived copy) is not a backup this node made: never retired through the link.
            if (!BackupName.IsValid(entry.Name) || entry.Name == current || entry.LinkTarget is not null)
            {
                continue;
            }

            // Incomplete only when the manifest is absent or says so; one that cannot be read or parsed is left alone.
            if (TryReadManifest(entry.FullName, out var manifest, out var error))
            {
                older.Add((entry.Name, manifest));
            }
            else
            {
                ManifestUnreadable(_logger, entry.Name, error!);
            }
        }

        var complete = older.Where(b => b.Manifest is { Complete: true })
            .OrderByDescending(b => b.Name, Comparer<string>.Create(BackupName.Compare))
            .ToList();
        var retire = complete.Skip(Math.Max(0, keep - (currentComplete ? 1 : 0)))
            .Concat(older.Where(b => b.Manifest is not { Complete: true }))
            .OrderBy(b => b.Name, Comparer<string>.Create(BackupName.Compare))
            .ToList();

        var removed = new List<string>();
        foreach (var (name, manifest) in retire)
        {
            var root = Path.Combine(folder, name);
            var manifestPath = Path.Combine(root, ManifestFile);
            try
            {
                if (File.Exists(manifestPath))
                {
                    File.Delete(manifestPath);
                    DirectorySync.Flush(root);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                RemoveFailed(_logger, root, e);
                continue;
            }

            // The nodes that may hold a part: those the manifest lists, or (no manifest) every registered node.
            var registered = _store.Nodes.All().ToDictionary(n => n.NodeId, StringComparer.Ordinal);
            var holders = manifest is null
                ? [.. registered.Values]
                : manifest.Nodes.Where(registered.ContainsKey).Select(id => registered[id]).ToList();
            var unreachable = holders.Where(n => !_store.Nodes.IsLive(n)).ToList();
            foreach (var node in unreachable)
            {
                PartNotRemoved(_logger, name, node.NodeId, "the node is not live");
            }

            if (await RemovePartsAsync(holders.Except(unreachable), name).ConfigureAwait(false) && unreachable.Count == 0)
            {
                TryRemove(root);
                removed.Add(name);
                BackupRetired(_logger, name);
            }
        }

        return removed;
    }

    /// <summary>
    /// A backup folder's manifest: whether it is complete and which nodes it lists, null if it has none (a failed
    /// backup's leftover). False, with the error, if it exists but cannot be read or parsed: such a backup is skipped.
    /// </summary>
    private static bool TryReadManifest(string root, out RetainedManifest? manifest, out Exception? error)
    {
        manifest = null;
        error = null;
        var path = Path.Combine(root, ManifestFile);
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            return true;
        }

        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, ManifestFile)));
            var nodes = json.RootElement.TryGetProperty("storage", out var storage)
                ? storage.EnumerateArray().Select(n => n.GetProperty("node_id").GetString() ?? string.Empty).ToList()
                : [];
            if (!json.RootElement.TryGetProperty("complete", out var c) || c.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw new JsonException("no \"complete\": true or false");
            }

            manifest = new RetainedManifest(c.ValueKind == JsonValueKind.True, nodes);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException or KeyNotFoundException)
        {
            error = e;
            return false;
        }
    }

    private sealed record RetainedManifest(bool Complete, IReadOnlyList<string> Nodes);

    [LoggerMessage(EventId = 4067, Level = LogLevel.Warning, Message = "Retention left backup {Name} alone: its manifest cannot be read or parsed (fix or remove it by hand)")]
    private static partial void ManifestUnreadable(ILogger logger, string name, Exception exception);

    [LoggerMessage(EventId = 4066, Level = LogLevel.Information, Message = "Backup {Name} removed by retention (metadata folder and every storage node's part)")]
    private static partial void BackupRetired(ILogger logger, string name);
}
