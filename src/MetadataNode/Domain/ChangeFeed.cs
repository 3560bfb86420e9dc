using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Sync;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The change feed: each namespace's log of changes read after a cursor, and long polls that wait for the next one.
/// Changes are written by the components that make them (in the same batch); this only reads.
/// </summary>
internal sealed class ChangeFeed
{
    private readonly RocksEngine _engine;
    private readonly CancellationToken _stopping;

    /// <param name="stopping">Cancelled when the server stops: held polls answer at once.</param>
    public ChangeFeed(RocksEngine engine, CancellationToken stopping)
    {
        _engine = engine;
        _stopping = stopping;
    }

    /// <summary>
    /// Everything after the cursor, in sequence order, none skipped, none repeated. With a wait, holds the
    /// call until a change arrives or the wait ends. A cursor from another namespace, another epoch or
    /// beyond the head is refused with a reset instruction, never answered with silent data.
    /// </summary>
    public async Task<ChangePage> ListAsync(NamespaceState ns, string? cursor, uint limit, uint waitSeconds, CancellationToken cancellationToken)
    {
        var after = ParseCursor(ns, cursor);
        var max = limit == 0 ? Limits.DefaultChangesLimit : (int)Math.Min(limit, Limits.MaxChangesLimit);
        var wait = TimeSpan.FromSeconds(Math.Min(waitSeconds, Limits.MaxWaitSeconds));
        if (wait <= TimeSpan.Zero)
        {
            return ReadChanges(ns.Id, ns.Record, after, max);
        }

        if (Interlocked.Increment(ref ns.LongPolls) > Limits.MaxLongPollsPerUser)
        {
            Interlocked.Decrement(ref ns.LongPolls);
            throw new DropboxException(ErrorKind.ResourceExhausted, $"Too many long polls held open for this account: the limit is MaxLongPollsPerUser = {Limits.MaxLongPollsPerUser}. Poll with wait_seconds = 0, or close another device's poll.");
        }

        try
        {
            return await WaitForChangesAsync(ns, after, max, DateTime.UtcNow + wait, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref ns.LongPolls);
        }
    }

    private async Task<ChangePage> WaitForChangesAsync(NamespaceState ns, ulong after, int max, DateTime deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Take the signal before reading, so a change landing after the read still wakes us.
            var signal = ns.Signal.Current;
            var record = ns.Record;
            var response = ReadChanges(ns.Id, record, after, max);
            var remaining = deadline - DateTime.UtcNow;
            if (response.Changes.Count > 0 || remaining <= TimeSpan.Zero)
            {
                return response;
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping);
            try
            {
                await signal.WaitAsync(remaining, linked.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return ReadChanges(ns.Id, record, after, max);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // Shutting down: answer now (the client polls again) rather than hold the server's stop.
                return ReadChanges(ns.Id, record, after, max);
            }
        }
    }

    private ChangePage ReadChanges(string ns, NamespaceRecord record, ulong after, int max)
    {
        var epoch = record.Epoch;
        var changes = new List<ChangeEntry>();
        var hasMore = false;
        var last = after;
        var bytes = 0;
        ulong gapAt = 0;
        _engine.Visit(_engine.Changes, Keys.ChangePrefix(ns), Keys.Change(ns, after + 1), (key, value) =>
        {
            if (changes.Count >= max || (bytes + value.Length > Limits.MaxChangesResponseBytes && changes.Count > 0))
            {
                hasMore = true;
                return false;
            }

            var change = StoredFormat.ReadChange(value);
            if (change.Sequence != last + 1 && !IsJump(record, last, change.Sequence))
            {
                gapAt = Keys.SequenceOfChangeKey(key);
                return false;
            }

            changes.Add(change);
            bytes += value.Length;
            last = change.Sequence;
            return true;
        });

        if (gapAt != 0)
        {
            // The log is contiguous by construction; a gap means damage, and skipping it would lose data.
            throw new DropboxException(ErrorKind.Internal, $"Change log of namespace {ns} has a gap after {last} (next is {gapAt}).");
        }

        return new ChangePage(changes, new ChangeCursor(ns, last, epoch).ToString(), hasMore);
    }

    /// <summary>Whether the log may go from <paramref name="last"/> straight to <paramref name="next"/>: new epochs moved the head forward there.</summary>
    internal static bool IsJump(NamespaceRecord record, ulong last, ulong next) =>
        next != last + 1 && next == AfterJumps(record, last) + 1;

    /// <summary>The head a log ending at <paramref name="last"/> reached through the jumps recorded there (itself if none).</summary>
    internal static ulong AfterJumps(NamespaceRecord record, ulong last)
    {
        while (record.Jumps.Contains(last))
        {
            last += MetadataStore.EpochJump;
        }

        return last;
    }

    private static ulong ParseCursor(NamespaceState ns, string? cursor)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return 0;
        }

        if (cursor.Length > 1024)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, "Unknown cursor: it is not one this server issued. Reset: list changes again with an empty cursor and reconcile.");
        }

        var parsed = ChangeCursor.Parse(cursor);
        if (!string.Equals(parsed.Namespace, ns.Id, StringComparison.Ordinal))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, "Unknown cursor: it does not belong to this account. Reset: list changes again with an empty cursor and reconcile.");
        }

        var record = ns.Record;
        if (parsed.Epoch != record.Epoch)
        {
            throw new DropboxException(ErrorKind.Conflict, "Stale cursor: this account's change log was recreated since the cursor was issued. Reset: list changes again with an empty cursor and reconcile.");
        }

        if (parsed.Sequence > record.Head)
        {
            throw new DropboxException(ErrorKind.Conflict, $"Cursor is ahead of the server (sequence {parsed.Sequence}, server at {record.Head}): the server lost changes or this cursor is not its own. Reset: list changes again with an empty cursor and reconcile.");
        }

        return parsed.Sequence;
    }
}
