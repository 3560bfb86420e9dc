using System.Runtime.CompilerServices;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Sync;

/// <summary>Reads the remote side of a pass: the change feed since the cursor, or a full listing.</summary>
internal static class RemoteChanges
{
    /// <summary>Most pages one listing or feed read may take; a server that says "more" beyond it is not believed.</summary>
    internal const int MaxPages = 100_000;

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
    /// <param name="maxPages">
    /// Most pages read. A listing with more is refused as endless; the feed stops there and returns the cursor it
    /// reached (a cursor only moves forward), so a client far behind catches up over several passes.
    /// </param>
    /// <param name="reserved">The state directory's relative path when inside the folder: entries there are refused.</param>
    /// <param name="ct">Cancellation.</param>
    public static async Task<RemoteView> FetchAsync(IMetadataRemote metadata, string? cursor, bool forceFull, Func<RemoteEntry, bool>? isSynced, int maxPages, string? reserved, CancellationToken ct)
    {
        if (!forceFull && !string.IsNullOrEmpty(cursor))
        {
            try
            {
                return await ListChangesAsync(metadata, cursor, isSynced, maxPages, reserved, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (RemoteErrors.IsCursorReset(e))
            {
                // The server no longer knows the cursor: start over from a full listing.
            }
        }

        // Paged, so the wire form of a large account is never held whole. The first page's cursor is kept: anything
        // that changes while later pages are read comes again through the feed after it, and applies idempotently.
        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        var refused = new Refusals { Reserved = reserved };
        string? firstCursor = null;
        await foreach (var listing in ListFilesPagedAsync(metadata, string.Empty, includeDeleted: true, maxPages, ct).ConfigureAwait(false))
        {
            firstCursor ??= listing.Cursor;
            foreach (var entry in listing.Entries)
            {
                var state = RemoteEntry.From(entry, entry.Deleted, entry.Version);
                if (Refuse(changes, entry, state, refused))
                {
                    continue;
                }

                changes[entry.Path] = state;
            }
        }

        return new RemoteView(changes, firstCursor ?? string.Empty, FullListing: true) { Refusals = refused };
    }

    /// <summary>A listing of <paramref name="prefix"/> page by page (<see cref="PageSize"/> entries each), in path order.</summary>
    /// <remarks>
    /// A server that says "more" must move forward: a page that is empty, or whose last path is not after the
    /// previous page's, is refused, and so is a listing longer than <paramref name="maxPages"/> pages.
    /// </remarks>
    public static async IAsyncEnumerable<ListFilesResponse> ListFilesPagedAsync(IMetadataRemote metadata, string prefix, bool includeDeleted, int maxPages, [EnumeratorCancellation] CancellationToken ct)
    {
        var after = string.Empty;
        for (var page = 0; page < maxPages; page++)
        {
            var listing = await metadata.ListFilesAsync(new ListFilesRequest { Prefix = prefix, IncludeDeleted = includeDeleted, Limit = PageSize, StartAfter = after }, ct).ConfigureAwait(false);
            yield return listing;
            if (!listing.HasMore)
            {
                yield break;
            }

            if (listing.Entries.Count == 0)
            {
                throw Endless($"the server said more entries follow page {page + 1} of the listing but sent none");
            }

            var last = listing.Entries[^1].Path;
            if (after.Length > 0 && Utf8Order(last, after) <= 0)
            {
                throw Endless($"page {page + 1} of the listing ends at '{SyncPaths.Display(last)}', not after the previous page's '{SyncPaths.Display(after)}'");
            }

            after = last;
        }

        throw Endless($"the listing still had more after {maxPages} pages");
    }

    private static async Task<RemoteView> ListChangesAsync(IMetadataRemote metadata, string cursor, Func<RemoteEntry, bool>? isSynced, int maxPages, string? reserved, CancellationToken ct)
    {
        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        var refused = new Refusals { Reserved = reserved };
        var more = false;
        for (var page = 0; page < maxPages; page++)
        {
            var response = await metadata.ListChangesAsync(new ListChangesRequest { Cursor = cursor, Limit = PageSize }, ct).ConfigureAwait(false);
            if (response.HasMore && (response.Changes.Count == 0 || string.IsNullOrEmpty(response.Cursor) || response.Cursor == cursor))
            {
                throw Endless($"the server said more changes follow page {page + 1} of the feed but {(response.Changes.Count == 0 ? "sent none" : "did not move the cursor")}");
            }

            Apply(changes, response.Changes, refused);
            if (isSynced is not null)
            {
                DropSynced(changes, response.Changes, isSynced);
            }

            cursor = string.IsNullOrEmpty(response.Cursor) ? cursor : response.Cursor;
            more = response.HasMore;
            if (!more)
            {
                break;
            }
        }

        // At the page bound with more to come: this pass applies what it read and stores the cursor reached (each
        // page moved it forward, checked above), the next pass reads on from there.
        return new RemoteView(changes, cursor, FullListing: false) { Refusals = refused, MoreChanges = more };
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

    /// <summary>
    /// Folds changes, in order, into the newest state per path. A change naming a path the client refuses (see
    /// <see cref="RemoteBounds.CheckEntry"/>, or a path into the state directory) is left out and described in
    /// <paramref name="refused"/>, and its path is marked refused (any older state of it in this answer is dropped:
    /// it is not the newest). A move with one bad end applies as the change to its good end: from a bad path, the
    /// destination is a new file; to a bad path, the source is deleted (the planner keeps a local edit of it).
    /// The changes around a refused one still apply.
    /// </summary>
    public static void Apply(Dictionary<string, RemoteEntry> changes, IEnumerable<Change> feed, Refusals? refused = null)
    {
        foreach (var change in feed)
        {
            var entry = change.Entry ?? new FileEntry { Path = change.OldPath };
            if (change.Kind == ChangeKind.Delete && string.IsNullOrEmpty(entry.Path))
            {
                entry = entry.Clone();
                entry.Path = change.OldPath;
            }

            var version = entry.Version != 0 ? entry.Version : change.Sequence;
            if (change.Kind == ChangeKind.Move)
            {
                var badFrom = Refuse(changes, new FileEntry { Path = change.OldPath }, state: null, refused, $" (the source of a move to '{SyncPaths.Display(entry.Path)}'; applied as a new file there)");
                var badTo = Refuse(changes, entry, RemoteEntry.From(entry, entry.Deleted, version), refused, $" (the destination of a move from '{SyncPaths.Display(change.OldPath)}'; applied as its delete)");
                if (badFrom && badTo)
                {
                    continue;
                }

                if (badFrom)
                {
                    Set(changes, RemoteEntry.From(entry, entry.Deleted, version), refused);
                    continue;
                }

                var kind = RemoteEntry.From(entry, false, version).Kind;
                if (badTo)
                {
                    Set(changes, new RemoteEntry(change.OldPath, kind, change.Sequence, true, 0, [], 0), refused);
                    continue;
                }

                Set(changes, new RemoteEntry(change.OldPath, kind, change.Sequence, true, 0, [], 0) { MovedTo = entry.Path }, refused);
                Set(changes, RemoteEntry.From(entry, entry.Deleted, version) with { MovedFrom = change.OldPath }, refused);
                continue;
            }

            var newest = change.Kind == ChangeKind.Delete ? RemoteEntry.From(entry, deleted: true, change.Sequence) : RemoteEntry.From(entry, entry.Deleted, version);
            if (Refuse(changes, entry, newest, refused))
            {
                continue;
            }

            Set(changes, newest, refused);
        }
    }

    /// <summary>A path's newest state: no longer refused, if an earlier change to it was.</summary>
    private static void Set(Dictionary<string, RemoteEntry> changes, RemoteEntry entry, Refusals? refused)
    {
        changes[entry.Path] = entry;
        refused?.Paths.Remove(entry.Path);
        refused?.AboveStateDirectory.Remove(entry.Path);
    }

    /// <summary>
    /// Why the client refuses a remote entry (bounds; at or in the state directory <paramref name="reserved"/>; a live file
    /// at a folder that holds it; the folder marker), or null. <paramref name="live"/>: the entry's newest state is a
    /// live path (not its delete, nor the source of a move): only a file that is there takes the folder's place.
    /// </summary>
    internal static string? WhyRefused(FileEntry entry, string? reserved, bool live) =>
        RemoteBounds.CheckEntry(entry)
            ?? (SyncPaths.IsAtOrUnderRelative(entry.Path, reserved) ? SyncPaths.StateDirectoryRule : null)
            ?? (live && IsFileAboveStateDirectory(entry, reserved) ? SyncPaths.StateDirectoryParentRule : null)
            ?? (entry.Path == FolderIdentity.MarkerName ? FolderIdentity.MarkerRule : null);

    /// <summary>A remote file at a folder that holds the state directory <paramref name="reserved"/> (the state directory is under its path).</summary>
    private static bool IsFileAboveStateDirectory(FileEntry entry, string? reserved) =>
        reserved is not null && entry.Kind == EntryKind.File && entry.Path.Length > 0 && SyncPaths.IsAtOrUnderRelative(reserved, entry.Path);

    /// <summary>
    /// True (and the refusal noted, the path marked refused and any older state of it dropped) when the client will
    /// not take <paramref name="entry"/>, whose newest state would be <paramref name="state"/> (null: gone, as the source
    /// of a move). A live file at a folder that holds the state directory is kept aside for the planner instead of
    /// reported (see <see cref="Refusals.AboveStateDirectory"/>).
    /// </summary>
    private static bool Refuse(Dictionary<string, RemoteEntry> changes, FileEntry entry, RemoteEntry? state, Refusals? refused, string context = "")
    {
        var why = WhyRefused(entry, refused?.Reserved, live: state is { Deleted: false });
        if (why is null)
        {
            return false;
        }

        changes.Remove(entry.Path ?? string.Empty);
        if (refused is not null)
        {
            if (!string.IsNullOrEmpty(entry.Path))
            {
                refused.Paths.Add(entry.Path);
                refused.AboveStateDirectory.Remove(entry.Path);
            }

            if (why == SyncPaths.StateDirectoryParentRule)
            {
                refused.AboveStateDirectory[entry.Path!] = state!;
            }
            else
            {
                refused.Messages.Add($"'{SyncPaths.Display(entry.Path)}'{context}: {why}");
            }
        }

        return true;
    }

    /// <summary>Orders paths as the server does: by their UTF-8 bytes.</summary>
    private static int Utf8Order(string a, string b) =>
        System.Text.Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(System.Text.Encoding.UTF8.GetBytes(b));

    private static DropboxException Endless(string what) =>
        new(ErrorKind.DataLoss, $"Stopped reading from the server: {what}. Nothing was applied from this answer; the next pass asks again.");
}
