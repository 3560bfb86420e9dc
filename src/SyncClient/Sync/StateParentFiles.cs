using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The remote files at a folder that holds the state directory (<see cref="Refusals.AboveStateDirectory"/>), remembered
/// in the db (<see cref="StateKeys.FilesAboveStateDirectory"/>) until the server no longer holds them: the change feed
/// lists such a file once, and a pass that saw it while nothing here needed its folder (or while the ignore rules
/// excluded it) does not move it aside; a later pass, once the user puts a file beside the state directory, must. A db
/// that never kept them (an older client's, its cursor perhaps past such a file) has them found by one whole listing.
/// </summary>
internal static class StateParentFiles
{
    /// <summary>
    /// True when this pass must list everything, once: the state directory lies below a folder inside the sync folder,
    /// and no whole listing has been kept for it (<see cref="StateKeys.FilesAboveStateDirectoryListed"/>). A client that
    /// did not keep these files moved its cursor past them, and the change feed never lists them again: without the
    /// listing, a file beside the state directory would fail to go up every pass until a reconcile.
    /// </summary>
    public static bool MustList(SyncContext ctx) =>
        ctx.ReservedPath is { } reserved && reserved.Contains('/') && ctx.State.GetSetting(StateKeys.FilesAboveStateDirectoryListed) != reserved;

    /// <summary>
    /// Adds the remembered files to <paramref name="remote"/>'s refusals when this pass's view says nothing newer of their
    /// path (a newer state, or any other refusal of it, replaces them; a whole listing that no longer holds them drops
    /// them), then writes what is left back to the db.
    /// </summary>
    public static void Merge(SyncContext ctx, RemoteView remote)
    {
        var refusals = remote.Refusals;
        var stored = Load(ctx.State.GetSetting(StateKeys.FilesAboveStateDirectory));
        var complete = remote.FullListing && !remote.MoreChanges;
        foreach (var (path, entry) in stored)
        {
            if (complete || remote.Changes.ContainsKey(path) || refusals.Paths.Contains(path) || refusals.Reserved is null
                || !SyncPaths.IsAtOrUnderRelative(refusals.Reserved, path) || refusals.Reserved == path)
            {
                continue;
            }

            refusals.Paths.Add(path);
            refusals.AboveStateDirectory[path] = entry;
        }

        var json = Save(refusals.AboveStateDirectory);
        if (json != ctx.State.GetSetting(StateKeys.FilesAboveStateDirectory))
        {
            ctx.Db.SetFilesAboveStateDirectory(json);
        }

        // Written after them: a pass stopped in between lists again.
        if (complete && refusals.Reserved is { } reserved && reserved.Contains('/') && ctx.State.GetSetting(StateKeys.FilesAboveStateDirectoryListed) != reserved)
        {
            ctx.Db.SetFilesAboveStateDirectoryListed(reserved);
        }
    }

    /// <summary>The stored files (path, version, size); none when absent or unreadable.</summary>
    internal static Dictionary<string, RemoteEntry> Load(string? json)
    {
        var files = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json))
        {
            return files;
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                foreach (var item in doc.RootElement.EnumerateArray())
                {
                    if (item.ValueKind == System.Text.Json.JsonValueKind.Object && item.TryGetProperty("path", out var p) && p.GetString() is { Length: > 0 } path
                        && item.TryGetProperty("version", out var v) && v.TryGetUInt64(out var version) && item.TryGetProperty("size", out var s) && s.TryGetInt64(out var size))
                    {
                        files[path] = new RemoteEntry(path, FileKind.File, version, false, size, [], 0);
                    }
                }
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            // Unreadable: as if none (the file is moved aside once the feed lists it again).
        }

        return files;
    }

    /// <summary>The JSON kept in the db for <paramref name="files"/> (null when none).</summary>
    internal static string? Save(IReadOnlyDictionary<string, RemoteEntry> files)
    {
        if (files.Count == 0)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var (path, entry) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                writer.WriteStartObject();
                writer.WriteString("path", path);
                writer.WriteNumber("version", entry.Version);
                writer.WriteNumber("size", entry.Size);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
