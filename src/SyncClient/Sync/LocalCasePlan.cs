using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The planner's part for the local names that clash in case (<see cref="PlanInput.LocalCaseClashes"/>), pure as
/// <see cref="SyncPlanner"/> is, which calls it first: the rule decides them all at once (<see cref="LocalCaseRules.DecideAll"/>),
/// each becomes a <see cref="SyncActionKind.CaseRenameLocal"/> (which the executor runs before anything else,
/// <see cref="LocalCaseRenames"/>) or its wait, and the rest of the pass is planned over the snapshot and merge base as the
/// renames leave them.
/// </summary>
internal static class LocalCasePlan
{
    /// <summary>
    /// Reason of a skip for a step at or under a name whose case-conflict rename was not made this pass (refused by the
    /// server, failed here, or found written since): nothing goes up, comes down or is deleted under either name until a
    /// later pass has renamed it.
    /// </summary>
    public const string NotMadeReason = "under a name that differs only in case from another, whose rename was not made this pass; synced once it is";

    /// <summary>
    /// Edits <paramref name="snapshot"/> as the plan will see it for <paramref name="clashes"/> (see
    /// <see cref="LocalCaseSnapshot.AsPlanned"/>): the engine's view for what it reads between the facts and the plan
    /// (the withheld lookups, the new remote clashes, the plain new downloads, the hashing). Decided by the same rule as
    /// the plan (<see cref="LocalCaseRules.DecideAll"/>, pure), so the plan finds it edited already; nothing is renamed.
    /// </summary>
    public static void Shape(LocalSnapshot snapshot, IReadOnlyList<LocalCaseClash> clashes)
    {
        foreach (var (facts, outcome) in Decide(clashes))
        {
            LocalCaseSnapshot.AsPlanned(snapshot, outcome, facts);
        }
    }

    /// <summary>
    /// The plan's part for the local case clashes (<see cref="PlanInput.LocalCaseClashes"/>): the rule's outcome for each,
    /// as a <see cref="SyncActionKind.CaseRenameLocal"/> or its wait in <paramref name="steps"/>; the input returned holds
    /// the snapshot (a copy) and merge base as the renames leave them, which the rest of the plan is made over: the synced
    /// rows of a name renamed on the server (or following the server's rename) under its new name, where the executor
    /// moves them after the rename. A clash with no free name stops the pass (nothing renamed; rename it by hand).
    /// </summary>
    public static PlanInput Plan(PlanInput input, List<SyncAction> steps)
    {
        if (input.LocalCaseClashes.Count == 0)
        {
            return input;
        }

        var local = input.Local.Copy();
        Dictionary<string, FileRecord>? bases = null;
        Dictionary<string, FileFingerprint>? fingerprints = null;
        Dictionary<string, RemoteEntry>? remote = null;
        foreach (var (facts, outcome) in Decide(input.LocalCaseClashes))
        {
            LocalCaseSnapshot.AsPlanned(local, outcome, facts);
            if (outcome.Kind == LocalCaseOutcomeKind.Wait)
            {
                steps.Add(outcome.Wait! with { LocalCase = outcome });
            }
            else if (outcome.Kind == LocalCaseOutcomeKind.Rename)
            {
                steps.Add(new SyncAction(SyncActionKind.CaseRenameLocal, outcome.Path) { ToPath = outcome.Target, LocalCase = outcome, CaseFacts = facts });
                if (outcome.OnServer.Count > 0 || outcome.Followed)
                {
                    RowsAsMoved(bases ??= new Dictionary<string, FileRecord>(input.Base, StringComparer.Ordinal), outcome, facts, input.Remote);
                    if (outcome.Followed)
                    {
                        MovesOn(input, local, outcome, facts, steps, ref remote);
                    }
                }
                else if (LocalCaseSnapshot.TakenUnderNewName(outcome) && !input.Fingerprints.ContainsKey(outcome.Target!) && input.Fingerprints.TryGetValue(outcome.Path, out var read))
                {
                    // Read at its old name by a caller that read before the snapshot was edited: the same bytes.
                    (fingerprints ??= new Dictionary<string, FileFingerprint>(input.Fingerprints, StringComparer.Ordinal))[outcome.Target!] = read;
                }
            }
        }

        return input with { Local = local, Base = bases ?? input.Base, Fingerprints = fingerprints ?? input.Fingerprints, Remote = remote ?? input.Remote };
    }

    /// <summary>The rule's outcome for each clash, with its facts; throws where a clash has no free name (the pass stops before anything is renamed).</summary>
    private static List<(LocalCaseClash Facts, LocalCaseOutcome Outcome)> Decide(IReadOnlyList<LocalCaseClash> clashes)
    {
        if (clashes.Count == 0)
        {
            return [];
        }

        var outcomes = LocalCaseRules.DecideAll(clashes);
        if (outcomes.Find(o => o.Kind == LocalCaseOutcomeKind.NoFreeName) is { } none)
        {
            throw new IOException(CaseConflicts.NoFreeNameMessage(none.Path));
        }

        return [.. clashes.Zip(outcomes)];
    }

    private static readonly HashSet<string> NoneLeaving = new(StringComparer.Ordinal);

    /// <summary>
    /// The files a followed folder rename (<paramref name="outcome"/>) carries here whose server path went on out of both
    /// names, as this pass lists it: moved on by another device after its folder's move (from its path under the new
    /// name), or moved out of the folder before it (from its old path, which the rename here still carries along). Each
    /// becomes a local move from where the rename leaves the file to where the server holds it
    /// (<see cref="SyncActionKind.MoveLocal"/>, run after the rename, with the row as synced as its base: the executor moves
    /// it only while the file is as synced), and those paths leave the plan's remote view (a copy,
    /// <paramref name="remote"/>). Without it the file was deleted here and downloaded again there, or, moved out before
    /// the folder, found new under the new name and sent again. Only where the server holds the synced content there and
    /// nothing is there or withheld there in <paramref name="local"/> (the snapshot as the renames leave it), and
    /// only for a row with a known ctime: the file was not scanned (its folder lost the clash), and the ctime alone tells
    /// an edit with its size and mtime put back. A rename not made turns the move into skips (<see cref="LocalCaseRenames.Hold"/>).
    /// </summary>
    private static void MovesOn(PlanInput input, LocalSnapshot local, LocalCaseOutcome outcome, LocalCaseClash facts, List<SyncAction> steps, ref Dictionary<string, RemoteEntry>? remote)
    {
        var (from, to) = (outcome.Path, outcome.Target!);
        var names = new HashSet<string>(StringComparer.Ordinal) { SyncPaths.CaseFoldKey(from), SyncPaths.CaseFoldKey(to) };
        foreach (var key in facts.SyncedUnder)
        {
            if (!input.Base.TryGetValue(key, out var record) || record.Kind != FileKind.File || record.ChangeTimeNs is not > 0)
            {
                continue;
            }

            var carried = to + key[from.Length..];
            var followed = LocalCaseRenames.FollowedMove(key, carried, input.Remote);
            var source = followed ? carried : key;
            if (!input.Remote.TryGetValue(source, out var gone) || gone is not { Deleted: true, MovedTo: { } dest }
                || !input.Remote.TryGetValue(dest, out var there) || there is not { Deleted: false, Kind: FileKind.File } || there.MovedFrom != source
                || !there.ContentHash.AsSpan().SequenceEqual(record.ContentHash) || SyncPaths.IsAtOrUnderAny(SyncPaths.CaseFoldKey(dest), names)
                || local.Entries.ContainsKey(dest) || local.IsWithheld(dest) || input.IsWithheld(dest) || input.Base.ContainsKey(dest) || KindConflictRules.UnderKindClash(input, dest, NoneLeaving))
            {
                continue;
            }

            remote ??= new Dictionary<string, RemoteEntry>(input.Remote, StringComparer.Ordinal);
            remote.Remove(key);
            remote.Remove(carried);
            remote.Remove(dest);
            steps.Add(new SyncAction(SyncActionKind.MoveLocal, carried)
            {
                ToPath = dest,
                Local = new LocalEntry(carried, FileKind.File, record.Size, record.MtimeTicks, SettlesIn: null) { ChangeTimeNs = record.ChangeTimeNs, Executable = record.Executable },
                Remote = there,
                // The row where the rename leaves it: under the new name when it followed the folder, else at its old path.
                Base = followed ? record with { Path = carried, Version = LocalCaseRenames.FollowedVersion(record, key, carried, input.Remote) } : record,
            });
        }
    }

    /// <summary>
    /// The merge base as <see cref="LocalCaseRenames"/> leaves it once the rename of <paramref name="outcome"/> is made
    /// with its rows (the rule of <see cref="LocalCaseRenames.RowsToMove"/>: a row the server moved, or moved by another device
    /// as this pass lists it, goes under the new name). Both names are withheld this pass, so whether it is made or not,
    /// nothing is planned under either; the view only keeps a remote change the server made there (another device's
    /// move, followed) from being taken for one this device has not seen.
    /// </summary>
    private static void RowsAsMoved(Dictionary<string, FileRecord> bases, LocalCaseOutcome outcome, LocalCaseClash facts, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        var (from, to) = (outcome.Path, outcome.Target!);
        var moved = outcome.OnServer.Select(l => l.Path).ToHashSet(StringComparer.Ordinal);
        foreach (var key in facts.SyncedUnder)
        {
            if (!bases.Remove(key, out var record))
            {
                continue; // clean: not in the plan's view
            }

            var path = to + key[from.Length..];
            var followed = LocalCaseRenames.FollowedMove(key, path, remote);
            if ((!moved.Contains(key) && !followed) || (!followed && remote.TryGetValue(key, out var gone) && gone.Deleted))
            {
                bases[key] = record;
                continue;
            }

            bases[path] = record with { Path = path, Version = followed ? LocalCaseRenames.FollowedVersion(record, key, path, remote) : record.Version };
        }
    }
}
