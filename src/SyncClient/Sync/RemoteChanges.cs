using System.Runtime.CompilerServices;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Sync;

/// <summary>Reads the remote side of a pass: the change feed since the cursor, or a full listing.</summary>
internal static class RemoteChanges
{
    private const int MaxPages = 100_000;

    /// <summary>Entries (or changes) asked for per page.</summary>
    internal const int PageSize = 1000;

    /// <param name="metadata">The metadata node.</param>
    /// <param name="cursor">Where the last successful pass left off (null or empty: list everything).</param>
    /// <param name="forceFull">List everything regardless of the cursor.</param>
    /// <param name="isSynced">
    /// For a delta: says whether a path's newest remote state is exactly what is recorded as synced (typically this
    /// client's own commits coming back through the feed). Such paths have no remote change and are dropped page by
    /// page, so echoes of a large upload are not all held at once. A full listing keeps everything.
    /// </param>
    /// <param name="ct">Cancellation.</param>
    public static async Task<RemoteView> FetchAsync(IMetadataRemote metadata, string? cursor, bool forceFull, Func<RemoteEntry, bool>? isSynced, CancellationToken ct)
    {
        if (!forceFull && !string.IsNullOrEmpty(cursor))
        {
            try
            {
                return await ListChangesAsync(metadata, cursor, isSynced, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (RemoteErrors.IsCursorReset(e))
            {
                // The server no longer knows the cursor: start over from a full listing.
            }
        }

        // Paged, so the wire form of a large account is never held whole. The first page's cursor is kept: anything
        // that changes while later pages are read comes again through the feed after it, and applies idempotently.
        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        string? firstCursor = null;
        await foreach (var listing in ListFilesPagedAsync(metadata, string.Empty, includeDeleted: true, ct).ConfigureAwait(false))
        {
            firstCursor ??= listing.Cursor;
            foreach (var entry in listing.Entries)
            {
                changes[entry.Path] = RemoteEntry.From(entry, entry.Deleted, entry.Version);
            }
        }

        return new RemoteView(changes, firstCursor ?? string.Empty, FullListing: true);
    }

    /// <summary>A listing of <paramref name="prefix"/> page by page (<see cref="PageSize"/> entries each), in path order.</summary>
    public static async IAsyncEnumerable<ListFilesResponse> ListFilesPagedAsync(IMetadataRemote metadata, string prefix, bool includeDeleted, [EnumeratorCancellation] CancellationToken ct)
    {
        var after = string.Empty;
        for (var page = 0; page < MaxPages; page++)
        {
            var listing = await metadata.ListFilesAsync(new ListFilesRequest { Prefix = prefix, IncludeDeleted = includeDeleted, Limit = PageSize, StartAfter = after }, ct).ConfigureAwait(false);
            yield return listing;
            if (!listing.HasMore || listing.Entries.Count == 0)
            {
                yield break;
            }

            after = listing.Entries[^1].Path;
        }
    }

    private static async Task<RemoteView> ListChangesAsync(IMetadataRemote metadata, string cursor, Func<RemoteEntry, bool>? isSynced, CancellationToken ct)
    {
        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        for (var page = 0; page < MaxPages; page++)
        {
            var response = await metadata.ListChangesAsync(new ListChangesRequest { Cursor = cursor, Limit = PageSize }, ct).ConfigureAwait(false);
            Apply(changes, response.Changes);
            if (isSynced is not null)
            {
                DropSynced(changes, response.Changes, isSynced);
            }

            cursor = response.Cursor;
            if (!response.HasMore)
            {
                break;
            }
        }

        return new RemoteView(changes, cursor, FullListing: false);
    }

    /// <summary>Removes the paths a page touched whose newest state (moves excluded) is the synced one.</summary>
    internal static void DropSynced(Dictionary<string, RemoteEntry> changes, IEnumerable<Change> page, Func<RemoteEntry, bool> isSynced)
    {
        foreach (var change in page)
        {
            var path = change.Entry?.Path;
            if (!string.IsNullOrEmpty(path) && changes.TryGetValue(path, out var entry)
                && entry is { Deleted: false, MovedFrom: null, MovedTo: null } && isSynced(entry))
            {
                changes.Remove(path);
            }
        }
    }

    /// <summary>Folds changes, in order, into the newest state per path.</summary>
    public static void Apply(Dictionary<string, RemoteEntry> changes, IEnumerable<Change> feed)
    {
        foreach (var change in feed)
        {
            var entry = change.Entry ?? new FileEntry { Path = change.OldPath };
            var version = entry.Version != 0 ? entry.Version : change.Sequence;
            switch (change.Kind)
            {
                case ChangeKind.Delete:
                    var path = string.IsNullOrEmpty(entry.Path) ? change.OldPath : entry.Path;
                    changes[path] = RemoteEntry.From(entry, deleted: true, change.Sequence) with { Path = path };
                    break;
                case ChangeKind.Move:
                    changes[change.OldPath] = new RemoteEntry(change.OldPath, RemoteEntry.From(entry, false, version).Kind, change.Sequence, true, 0, [], 0) { MovedTo = entry.Path };
                    changes[entry.Path] = RemoteEntry.From(entry, entry.Deleted, version) with { MovedFrom = change.OldPath };
                    break;
                default:
                    changes[entry.Path] = RemoteEntry.From(entry, entry.Deleted, version);
                    break;
            }
        }
    }
}
