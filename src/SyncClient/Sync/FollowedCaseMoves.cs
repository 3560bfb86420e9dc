using System.Text.Json;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The server moves that local case-conflict renames follow (<see cref="LocalCaseOutcome.Followed"/>: another device moved
/// the loser to its <c>(Case Conflict)</c> name) and that a pass did not make here (the rename failed, was refused, found
/// written since, or waits): the remote changes at or under both names as the pass's remote view held them (both ends of
/// each move among them: the old path deleted with <see cref="RemoteEntry.MovedTo"/>, the new one with
/// <see cref="RemoteEntry.MovedFrom"/>; a folder's delete there, without which its synced row kept the loser on the
/// server and so the winner of the clash), kept in the db
/// (<see cref="StateKeys.CaseFollowedMoves"/>). Only the change feed says where a path went (a remembered withheld path is
/// looked up as it is now), so each later pass puts them back in its remote view (<see cref="AddTo"/>) and follows the move
/// again, while the cursor moves on: held instead, a rename that failed every pass held the cursor for good, and one that
/// waited did not hold it at all (the next pass, not seeing the move, decided the clash anew: the winner renamed, the loser
/// split). The memory is what the pass's own view held at those names, so a newer change listed since replaces what it
/// keeps, as a held cursor's listing would show it; it is forgotten once no followed rename is left unmade.
/// It carries one more kind of change the feed cannot bring to the right row: the delete of a path another device removed
/// between this pass's listing and this client's case-conflict move of its folder (<see cref="WithGone"/>), at the path
/// its row moved to. Such a delete (and one <see cref="DeletesBeforeCaseMoves"/> put at a new path) is at a path the
/// server never held: a pass that withholds the path keeps it on (<see cref="StillWithheld"/>), since the withheld
/// path's lookup finds nothing there once it is free.
/// </summary>
/// <remarks>
/// The remembered entries are read from the db at each pass, never kept in the object (which holds only what the running
/// pass leaves, until its cursor is stored): another engine on the same db (a reconcile's, a <c>sync --once</c>) may have
/// changed them since (an engine that kept its own copy put back moves another had forgotten, or lacked those it
/// remembered).
/// </remarks>
internal sealed class FollowedCaseMoves(SyncContext ctx)
{
    private readonly SyncContext _ctx = ctx;

    /// <summary>
    /// Most followed moves remembered; past it none is (the clash is then decided anew, as before the memory: every byte
    /// kept, a name maybe twice). The deletes a move found (<see cref="WithGone"/>) are not counted against it and never
    /// dropped: dropped, their files stayed here as synced while the server lacked them, until a reconcile sent them back
    /// (the other device's delete undone). They are bounded by the rows the move moved, which the pass that found them
    /// holds anyway, and they are kept only until a pass takes them (the next that stores its cursor, or, while it
    /// withholds their path, the first that decides them: <see cref="StillWithheld"/>).
    /// </summary>
    internal const int MaxRemembered = 10_000;

    /// <summary>The entries remembered, as stored.</summary>
    internal IReadOnlyList<RemoteEntry> Remembered => Load(_ctx.State.GetSetting(StateKeys.CaseFollowedMoves));

    /// <summary>
    /// Puts the remembered entries into <paramref name="changes"/> (this pass's remote view, before anything reads it):
    /// each where the view holds nothing at its path; where it holds the same state without the link (a full listing, which
    /// carries no moves), the link is added. A newer change at a path (listed since) stays as listed. Returns the plain
    /// deletes (no link) put in as remembered (see <see cref="StillWithheld"/>).
    /// </summary>
    public List<RemoteEntry> AddTo(Dictionary<string, RemoteEntry> changes, Func<string, ulong?> syncedVersion) => AddTo(Remembered, changes, syncedVersion);

    /// <summary>
    /// As <see cref="AddTo(Dictionary{string, RemoteEntry}, Func{string, ulong?})"/>, of <paramref name="remembered"/> (pure:
    /// the planner model's engine uses it too). A path synced since at a newer version (<paramref name="syncedVersion"/>,
    /// the db's) is not put back: its listing (an echo, dropped) is newer than what was remembered.
    /// </summary>
    internal static List<RemoteEntry> AddTo(IReadOnlyList<RemoteEntry> remembered, Dictionary<string, RemoteEntry> changes, Func<string, ulong?> syncedVersion)
    {
        var deletes = new List<RemoteEntry>();
        foreach (var kept in remembered)
        {
            if (!changes.TryGetValue(kept.Path, out var listed))
            {
                if (!(syncedVersion(kept.Path) > kept.Version))
                {
                    changes[kept.Path] = kept;
                    if (kept is { Deleted: true, MovedTo: null, MovedFrom: null })
                    {
                        deletes.Add(kept);
                    }
                }
            }
            else if (kept.Deleted && listed is { Deleted: true, MovedTo: null })
            {
                changes[kept.Path] = listed with { MovedTo = kept.MovedTo };
            }
            else if (!kept.Deleted && listed is { Deleted: false, MovedFrom: null } && listed.Version == kept.Version && listed.ContentHash.AsSpan().SequenceEqual(kept.ContentHash))
            {
                changes[kept.Path] = listed with { MovedFrom = kept.MovedFrom };
            }
        }

        return deletes;
    }

    /// <summary>What this pass's executor left to remember (<see cref="Leave"/>); stored only with the pass's cursor (<see cref="StoreLeft"/>).</summary>
    private IReadOnlyList<RemoteEntry> _left = [];

    /// <summary>The executor's word (<see cref="LocalCaseRenames"/>): what this pass remembers (<see cref="Select"/>), stored with the cursor.</summary>
    internal void Leave(IReadOnlyList<RemoteEntry> moves) => _left = moves;

    /// <summary>
    /// What is remembered now with <paramref name="gone"/> (<see cref="LocalCaseRenames.GoneBeforeMove"/>) added, as
    /// stored; null when there is none to add. Written at once, in the same db transaction as the moves of the rows they
    /// are for (<see cref="LocalCaseRenames.RowsToMove"/>), not with the cursor: the rows moved, a pass that keeps its old
    /// cursor (an error elsewhere in it) would have the next one list the delete at the old path again, which reaches no
    /// row; and a crash between two writes left the rows moved with nothing remembered. With the memory kept as it was
    /// otherwise, the next pass's view holds them either way (<see cref="StoreLeft"/> keeps them too: they are in what the
    /// pass left, <see cref="WithGone"/>).
    /// </summary>
    internal string? RememberedWithGone(IReadOnlyList<RemoteEntry> gone) => gone.Count == 0 ? null : Save(WithGone([.. Remembered], gone));

    /// <summary>
    /// Adds <paramref name="deletes"/> (<see cref="StillWithheld"/>) to what this pass leaves: after the executor (whose
    /// <see cref="Leave"/> they are added to) and the withheld paths' memory, before <see cref="StoreLeft"/>.
    /// </summary>
    internal void KeepWithheld(IReadOnlyList<RemoteEntry> deletes) => _left = WithGone([.. _left], deletes);

    /// <summary>
    /// Of <paramref name="carried"/> (the plain deletes this pass's view took from the memory,
    /// <see cref="AddTo(IReadOnlyList{RemoteEntry}, Dictionary{string, RemoteEntry}, Func{string, ulong?})"/>, and those
    /// <see cref="DeletesBeforeCaseMoves"/> put at a new path), those whose path the pass left to the withheld paths'
    /// memory (<paramref name="withheld"/>: skipped as withheld or at a kind clash, waiting for a file it could not read),
    /// that delete still the view's change there (pure: the planner model uses it too). They are remembered on with the
    /// cursor and put back in each view until a pass decides them: most are at a path the server never held (the move did
    /// not carry the file there), whose lookup, once the path is free, finds nothing, so with the path alone remembered the
    /// delete was dropped and the file stayed here as synced while the server lacked it (the planner model's seeds
    /// 5yuK37HOMIz1, dQA4QpKZjAj2, epw5NXtMdS62). A change listed at the path since is newer: the view holds it instead
    /// (AddTo puts nothing back over it), the delete is forgotten, and the path's lookup answers with the server's newest
    /// state. An edit here meets the delete in the planner as any does (kept and sent).
    /// </summary>
    internal static List<RemoteEntry> StillWithheld(IEnumerable<RemoteEntry> carried, IReadOnlyDictionary<string, RemoteEntry> view, IReadOnlySet<string> withheld) =>
        [.. carried.Where(e => withheld.Contains(e.Path) && view.TryGetValue(e.Path, out var there) && ReferenceEquals(there, e))];

    /// <summary>
    /// Remembers what the pass left (<see cref="Leave"/>) in place of what was remembered; none: forgotten. Only with the
    /// pass's cursor, and before it: the memory goes with the cursor. A pass that keeps its old cursor keeps the old memory
    /// too (its next pass sees the view this one saw: a change taken from the memory but left for later, by a wait that
    /// holds the cursor, would otherwise be neither listed again nor remembered; found by the planner model).
    /// </summary>
    public void StoreLeft()
    {
        var json = _left.Count == 0 ? null : Save(_left);
        _left = [];
        if (json != _ctx.State.GetSetting(StateKeys.CaseFollowedMoves))
        {
            _ctx.Db.SetCaseFollowedMoves(json);
        }
    }

    /// <summary>
    /// What a pass remembers (pure): the entries <paramref name="remote"/> (its view) holds at or under <paramref name="names"/>
    /// (both names of each followed rename not made, or waiting), and those the pass held with them in another case (a
    /// skip of <paramref name="plan"/> at a name differing only in case, or moved from or to one: <see cref="LocalCaseRenames.Hold"/>),
    /// in path order; none past <see cref="MaxRemembered"/>. Only what the pass left untouched: a path it acted on (an
    /// upload at a name differing only in case) is not remembered, or its stale state would be put back over its own.
    /// </summary>
    internal static List<RemoteEntry> Select(IReadOnlySet<string> names, IReadOnlyDictionary<string, RemoteEntry> remote, IReadOnlyList<SyncAction> plan)
    {
        if (names.Count == 0)
        {
            return [];
        }

        // Held in another case, as Hold holds them (a download at a name differing only in case, say): the facts of the
        // next pass are read before the withheld lookups bring such a path back, and without it there the clash is not
        // seen (an edited loser sent under its old name, the other name downloaded beside it; found by the planner model).
        var folded = names.Select(SyncPaths.CaseFoldKey).ToHashSet(StringComparer.Ordinal);
        bool Folds(string? path) => path is not null && SyncPaths.IsAtOrUnderAny(SyncPaths.CaseFoldKey(path), folded);
        var held = plan.Where(a => a.Kind == SyncActionKind.Skip && (Folds(a.Path) || Folds(a.Remote?.MovedFrom) || Folds(a.Remote?.MovedTo)))
            .Select(a => a.Path).ToHashSet(StringComparer.Ordinal);
        var moves = remote.Values.Where(e => SyncPaths.IsAtOrUnderAny(e.Path, names) || held.Contains(e.Path))
            .OrderBy(e => e.Path, StringComparer.Ordinal).Take(MaxRemembered + 1).ToList();
        return moves.Count > MaxRemembered ? [] : moves;
    }

    /// <summary>
    /// <paramref name="moves"/> (<see cref="Select"/>) with the remote deletes a case-conflict move of this pass found at its
    /// moved rows' new paths (<paramref name="gone"/>: <see cref="LocalCaseRenames.GoneBeforeMove"/>) where they hold nothing,
    /// in path order: remembered with the cursor and put back in the next pass's view like them (<see cref="AddTo"/>), so its
    /// planner decides each as a remote delete; forgotten once a pass stores its cursor, as they are (unless it withheld
    /// their path: <see cref="StillWithheld"/>). Every one of them,
    /// however many: <see cref="MaxRemembered"/> bounds the followed moves alone (see there why).
    /// </summary>
    internal static List<RemoteEntry> WithGone(List<RemoteEntry> moves, IReadOnlyList<RemoteEntry> gone)
    {
        if (gone.Count == 0)
        {
            return moves;
        }

        var held = moves.Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        return [.. moves.Concat(gone.Where(e => held.Add(e.Path))).OrderBy(e => e.Path, StringComparer.Ordinal)];
    }

    /// <summary>The stored entries; none when absent or unreadable (the clash is then decided anew).</summary>
    internal static List<RemoteEntry> Load(string? json)
    {
        var moves = new List<RemoteEntry>();
        if (string.IsNullOrEmpty(json))
        {
            return moves;
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            // Read whole: what was written is bounded where it was chosen (Select, WithGone); a cut here dropped deletes
            // past the first MaxRemembered entries without a word.
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                // A null path or hash is damage like any other (the whole memory is dropped): taken, a null hash threw
                // out of the pass and a null path reached the planner.
                var path = e.GetProperty("path").GetString() ?? throw new FormatException("a remembered move without a path");
                var hash = e.GetProperty("hash").GetString() ?? throw new FormatException("a remembered move without a hash");
                moves.Add(new RemoteEntry(path, (FileKind)e.GetProperty("kind").GetInt32(), e.GetProperty("version").GetUInt64(),
                    e.GetProperty("deleted").GetBoolean(), e.GetProperty("size").GetInt64(), Convert.FromHexString(hash), e.GetProperty("mtime").GetInt64())
                {
                    Executable = e.GetProperty("executable").GetBoolean(),
                    MovedFrom = e.TryGetProperty("movedFrom", out var from) ? from.GetString() : null,
                    MovedTo = e.TryGetProperty("movedTo", out var to) ? to.GetString() : null,
                });
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return [];
        }

        return moves;
    }

    internal static string Save(IReadOnlyList<RemoteEntry> moves)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            foreach (var e in moves)
            {
                w.WriteStartObject();
                w.WriteString("path", e.Path);
                w.WriteNumber("kind", (int)e.Kind);
                w.WriteNumber("version", e.Version);
                w.WriteBoolean("deleted", e.Deleted);
                w.WriteNumber("size", e.Size);
                w.WriteString("hash", Convert.ToHexStringLower(e.ContentHash));
                w.WriteNumber("mtime", e.MtimeUnixMs);
                w.WriteBoolean("executable", e.Executable);
                if (e.MovedFrom is { } from)
                {
                    w.WriteString("movedFrom", from);
                }

                if (e.MovedTo is { } to)
                {
                    w.WriteString("movedTo", to);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
