using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// Runs one <see cref="PlannerCase"/> pass after pass until the planner plans nothing but skips, and checks
/// CanopyCheck's invariants: termination (a bounded number of passes), determinism, idempotence (planning the
/// fixed point again plans nothing new), convergence (every path not withheld or skipped holds the same thing
/// locally, remotely and in the db) and no lost content (every content on either side at the start is in the final
/// folder, live remotely, or a restorable server version). A plan that waits for files still being written is no
/// fixed point: the clock moves on to its soonest re-check (as the daemon's does) and the next pass looks again; every
/// plan must wait for exactly the changed files observed unsettled (see <see cref="CheckWaits"/>).
/// </summary>
/// <remarks>
/// What the first fixed point skips or withholds waits for the user, so its convergence check leaves it out. Then the
/// case's later edits are made (<see cref="PlannerCase.Later"/>: another device edits those paths after the cursor moved
/// past their first skip), the user resolves each cause (<see cref="ModelUser"/>) and the passes run again, round after
/// round, and every path must converge with nothing lost: a remote change skipped while its path was withheld or at a
/// clash must still be applied once the cause is gone.
/// </remarks>
internal static class PlannerRun
{
    /// <summary>Passes allowed before the case counts as not terminating (not counting passes that wait).</summary>
    public const int MaxPasses = 8;

    /// <summary>
    /// Passes that wait, allowed on top: each moves the clock to its soonest re-check, when at least one file it waits for
    /// has settled unless it was written again (<see cref="PlannerCase.Rewrites"/>, at most 2), so there are at most as
    /// many as files written by the case (at most 6) and their rewrites.
    /// </summary>
    public const int MaxWaitPasses = 10;

    /// <summary>How often each action kind was planned, and how many passes cases took (to see what the generator reaches).</summary>
    public static readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> Coverage = new(StringComparer.Ordinal);

    /// <summary>
    /// Rounds of the user's resolutions (<see cref="ModelUser.Resolve"/>) after the first fixed point, each run to a fixed
    /// point of its own: a renamed side may bring another clash to light (a case clash under a folder that was unreadable).
    /// </summary>
    public const int MaxResolutions = 8;

    public static void Check(PlannerCase c)
    {
        var world = c.Build();
        var random = new Random(c.Order);
        var startContents = world.Local.Values.Where(n => n.Kind == ModelKind.File).Select(n => n.Content)
            .Concat(world.Server.Live.Values.Where(n => n.Kind == ModelKind.File).Select(n => n.Content)).Concat(world.Leftovers.Values.Select(n => n.Content)).ToHashSet();
        world.Trace.Add("start: " + Describe(world));

        // A path skipped in any pass is left out of the first convergence check (it waits for the user).
        var everSkipped = new HashSet<string>(StringComparer.Ordinal);
        var overwritten = new HashSet<int>();
        var (plan, snapshot) = RunToFixedPoint(c, world, random, everSkipped, overwritten, c.Rewrites, MaxWaitPasses + c.ReadFailures, shape: c.Order);
        var skipped = CheckIdempotent(c, world, plan);
        everSkipped.UnionWith(skipped);

        // Plain edits make no kind clash that lasts: there every path not skipped at the fixed point must converge,
        // and every path still skipped must be a real clash (a file on one side, a folder on the other) or under one.
        var leftOut = c.Plain ? skipped.Where(p => plan.Any(a => a.Kind == SyncActionKind.Skip && a.Path == p)).ToHashSet(StringComparer.Ordinal) : everSkipped;
        if (c.Plain && leftOut.FirstOrDefault(p => !ClashAtOrAbove(world, p)) is { } unjustified)
        {
            Fail(c, world, $"'{unjustified}' is skipped at the fixed point, but neither it nor a folder above it is a file on one side and a folder on the other");
        }

        CheckConvergence(c, world, snapshot, leftOut, "paths checked before resolving" + c.Key, "paths left out before resolving" + c.Key);
        CheckNothingLost(c, world, startContents, overwritten);

        // What was skipped waits for the user: once they resolve it (rename one side of a clash, make a folder
        // readable), every remote change the cursor moved past meanwhile must still be applied, so then every path
        // converges. What the model's user cannot resolve stays left out, counted per reason.
        var unresolved = Unresolved(plan, snapshot);
        if (c.Later is { Length: > 0 } later && unresolved.Count > 0)
        {
            foreach (var op in later)
            {
                c.EditLater(world, op, unresolved.Keys, overwritten);
            }

            world.Trace.Add("later edits -> " + Describe(world));
            Coverage.AddOrUpdate("cases edited while left to the user" + c.Key, 1, (_, n) => n + 1);
            (plan, snapshot) = RunToFixedPoint(c, world, random, [], overwritten, rewrites: 0, MaxWaitPasses + world.ReadErrors.Values.Sum(), shape: c.Order + 3);
            CheckIdempotent(c, world, plan);
            unresolved = Unresolved(plan, snapshot);
        }

        var discarded = new HashSet<int>();
        for (var round = 1; round <= MaxResolutions && unresolved.Count > 0; round++)
        {
            var done = ModelUser.Resolve(world, plan, snapshot, random, discarded);
            if (done.Count == 0)
            {
                break;
            }

            world.Trace.Add($"the user resolves (round {round}): {string.Join("; ", done.Select(d => $"{d.Kind} {d.Paths}"))}");
            world.Trace.Add("  -> " + Describe(world));
            foreach (var (kind, _) in done)
            {
                Coverage.AddOrUpdate($"resolved by the user: {kind}{c.Key}", 1, (_, n) => n + 1);
            }

            Coverage.AddOrUpdate($"cases the user resolved in a round {round}{c.Key}", 1, (_, n) => n + 1);
            (plan, snapshot) = RunToFixedPoint(c, world, random, [], overwritten, rewrites: 0, MaxWaitPasses + world.ReadErrors.Values.Sum(), shape: c.Order + (round * 7));
            CheckIdempotent(c, world, plan);
            unresolved = Unresolved(plan, snapshot);
        }

        // The model has nothing the user cannot resolve (no ignore rules, no refused paths): whatever is still left to
        // them is a clash that came back or one the resolving never reached.
        var key = c.Key;
        foreach (var (path, why) in unresolved)
        {
            Coverage.AddOrUpdate($"paths left out, unresolved: {why}{key}", 1, (_, n) => n + 1);
        }

        if (unresolved.Count > 0)
        {
            Fail(c, world, $"still left to the user after they resolved what they could: {string.Join("; ", unresolved.Select(kv => $"'{kv.Key}' ({kv.Value})"))}");
        }

        CheckConvergence(c, world, snapshot, unresolved.Keys.ToHashSet(StringComparer.Ordinal), "paths checked" + key, "paths left out" + key);
        CheckNothingLost(c, world, startContents, [.. overwritten, .. discarded]);
    }

    /// <summary>
    /// What the fixed point leaves to the user, with why: the paths it skips (by the planner's reason) and the paths the
    /// scan withholds.
    /// </summary>
    private static Dictionary<string, string> Unresolved(List<SyncAction> plan, LocalSnapshot snapshot)
    {
        var unresolved = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in snapshot.Withheld)
        {
            unresolved[path] = "withheld here";
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.Skip))
        {
            unresolved.TryAdd(a.Path, "skipped: " + a.Reason![..Math.Min(40, a.Reason!.Length)]);
        }

        return unresolved;
    }

    /// <summary>
    /// Passes until one plans nothing but skips (the fixed point): its plan and scan. Each pass's plan is checked (see
    /// <see cref="PlanPass"/>) and run with pretend success; a plan that waits moves the clock to its soonest re-check,
    /// and at the first <paramref name="rewrites"/> such re-checks the file waited for is written again.
    /// </summary>
    private static (List<SyncAction> Plan, LocalSnapshot Snapshot) RunToFixedPoint(PlannerCase c, ModelWorld world, Random random, HashSet<string> everSkipped, HashSet<int> overwritten, int rewrites, int maxWaitPasses, int shape)
    {
        List<SyncAction> plan = [];
        LocalSnapshot snapshot = new();
        var passes = 0;
        var waitPasses = 0;
        for (; ; passes++)
        {
            if (passes - waitPasses == MaxPasses || waitPasses > maxWaitPasses)
            {
                Fail(c, world, $"no fixed point after {passes} passes, {waitPasses} of them waiting (the last plan: {string.Join("; ", plan)})");
            }

            (plan, snapshot, var remote, var keep, var injected) = PlanPass(world, shape + passes, c);
            world.Trace.Add($"pass {passes + 1}: {string.Join("; ", plan)}");
            everSkipped.UnionWith(plan.Where(a => a.Kind == SyncActionKind.Skip).Select(a => a.Path));
            var storedTable = world.WithheldTable.ToHashSet(StringComparer.Ordinal);
            foreach (var a in plan)
            {
                // Keyed per generator (as the checked paths are): a fact asserts on its own cases, not on another's.
                var what = a.Kind == SyncActionKind.Skip ? "Skip: " + a.Reason![..Math.Min(40, a.Reason!.Length)] : a.Kind.ToString();
                Coverage.AddOrUpdate(what + c.Key, 1, (_, n) => n + 1);
                if (a is { Kind: SyncActionKind.CaseRenameLocal, LocalCase: { } rename })
                {
                    var how = rename.IsDirectory ? "a folder" : LocalCaseSnapshot.TakenUnderNewName(rename) ? "a file here alone, sent under its new name" : "a file";
                    var where = rename.OnServer.Count > 0 ? ", on the server first" : rename.Followed ? ", following the server" : string.Empty;
                    Coverage.AddOrUpdate($"CaseRenameLocal: {how}{where}{c.Key}", 1, (_, n) => n + 1);
                }

                if (a.Reason == DisplacedRules.KeepForLaterReason)
                {
                    Coverage.AddOrUpdate("KeepDisplaced, sent by a later pass" + c.Key, 1, (_, n) => n + 1);
                }
            }

            // A held case clash does nothing (it waits for the other name to go, which a skip may hold for good).
            if (plan.All(a => a.Kind is SyncActionKind.Skip or SyncActionKind.CaseHoldRemote))
            {
                world.RememberWithheld(keep, injected, plan, errors: false);
                world.FollowedMoves = LeftWithCursor(world, [], remote, c.Key); // the engine's executor: no followed rename left unmade
                Coverage.AddOrUpdate($"cases ending after {passes} pass(es) that did something", 1, (_, n) => n + 1);
                return (plan, snapshot);
            }

            var executor = new ModelExecutor(world, random);
            executor.Execute(plan, remote);
            // As the engine: after the executor, whose case-conflict renames not made turn steps into skips to remember.
            world.RememberWithheld(keep, injected, plan, errors: false);
            if (executor.FollowedFailed > 0)
            {
                Coverage.AddOrUpdate("CaseRenameLocal following the server failed here" + c.Key, executor.FollowedFailed, (_, n) => n + executor.FollowedFailed);
            }

            if (executor.FollowedWaits > 0)
            {
                Coverage.AddOrUpdate("CaseRenameLocal waits to follow the server" + c.Key, executor.FollowedWaits, (_, n) => n + executor.FollowedWaits);
            }

            if (executor.GoneAtNewPath > 0)
            {
                Coverage.AddOrUpdate("deletes at a followed row's new path remembered" + c.Key, executor.GoneAtNewPath, (_, n) => n + executor.GoneAtNewPath);
            }

            if (executor.CaseRenamesNotMade > 0)
            {
                Coverage.AddOrUpdate("CaseRenameLocal not made, its steps held" + c.Key, executor.CaseRenamesNotMade, (_, n) => n + executor.CaseRenamesNotMade);
                Coverage.AddOrUpdate("steps held by a case-conflict rename not made" + c.Key, executor.StepsHeld, (_, n) => n + executor.StepsHeld);
            }

            if (executor.Errors > 0)
            {
                world.WithheldTable.UnionWith(storedTable); // a failed step may have been one of them: look again
            }
            else if (executor.ListAllNextPass)
            {
                world.Cursor = null;
                world.FollowedMoves = LeftWithCursor(world, executor.FollowedMoves, remote, c.Key); // with the cursor, as the engine
            }
            else if (!plan.Any(a => a.Reason == SyncPlanner.ChangingReason && remote.Changes.ContainsKey(a.Path)))
            {
                // The executor keeps the cursor while a remote change waits for a file here to settle.
                world.Cursor = ulong.Parse(remote.Cursor, System.Globalization.CultureInfo.InvariantCulture);
                world.FollowedMoves = LeftWithCursor(world, executor.FollowedMoves, remote, c.Key);
            }

            if (plan.Where(a => a.Kind == SyncActionKind.Wait).Select(a => a.SettlesIn).DefaultIfEmpty().Min() is var soonest && soonest > TimeSpan.Zero)
            {
                waitPasses++;
                if (waitPasses <= rewrites && plan.First(a => a.Kind == SyncActionKind.Wait).Path is var writing
                    && world.Local.TryGetValue(writing, out var node) && node.Kind == ModelKind.File)
                {
                    // Still being written: the user's own overwrite of bytes never synced (not a loss), seen by the next scan.
                    overwritten.Add(node.Content);
                    world.LocalWrite(writing, world.NewContent());
                    world.Trace.Add($"  written again: {writing}");
                    Coverage.AddOrUpdate("written again while waited for" + c.Key, 1, (_, n) => n + 1);
                }

                world.Advance(soonest); // the daemon's re-check (SyncSummary.RecheckAfter)
            }

            world.Trace.Add("  -> " + Describe(world));
        }
    }

    /// <summary>
    /// What the engine remembers with the cursor (<see cref="FollowedCaseMoves.StoreLeft"/>): what the executor left
    /// (<paramref name="left"/>) and the deletes carried to paths the server never held that the pass left withheld
    /// (<see cref="FollowedCaseMoves.StillWithheld"/>, over the withheld table as the pass left it).
    /// </summary>
    private static List<RemoteEntry> LeftWithCursor(ModelWorld world, List<RemoteEntry> left, RemoteView remote, string key)
    {
        var kept = FollowedCaseMoves.StillWithheld(world.Carried, remote.Changes, world.WithheldTable);
        if (kept.Count > 0)
        {
            Coverage.AddOrUpdate("carried deletes kept while their path is withheld" + key, kept.Count, (_, n) => n + kept.Count);
        }

        return FollowedCaseMoves.WithGone([.. left], kept);
    }

    /// <summary>
    /// Idempotence: the pass that planned only skips stores its cursor; planning again changes nothing, and a converged
    /// state (no skips) plans nothing at all. Returns the paths the fixed point skips.
    /// </summary>
    private static HashSet<string> CheckIdempotent(PlannerCase c, ModelWorld world, List<SyncAction> plan)
    {
        var skipped = plan.Select(a => a.Path).ToHashSet(StringComparer.Ordinal);
        world.Cursor = world.Server.Head;
        var again = PlanPass(world, c.Order, c).Plan;
        if (again.Any(a => a.Kind is not (SyncActionKind.Skip or SyncActionKind.CaseHoldRemote) || !skipped.Contains(a.Path)))
        {
            Fail(c, world, $"planning the fixed point again planned: {string.Join("; ", again)}");
        }

        return skipped;
    }

    /// <summary>Every content on either side at the start is in the folder or a server version, unless the user wrote over it before it synced.</summary>
    private static void CheckNothingLost(PlannerCase c, ModelWorld world, HashSet<int> startContents, HashSet<int> overwritten)
    {
        var endContents = world.Local.Values.Where(n => n.Kind == ModelKind.File).Select(n => n.Content).Concat(world.Server.History).ToHashSet();
        var lost = startContents.Where(x => !endContents.Contains(x) && !overwritten.Contains(x)).ToList();
        if (lost.Count > 0)
        {
            Fail(c, world, $"content lost: {string.Join(", ", lost.Select(x => "#" + x))} is neither in the folder nor a server version");
        }
    }

    /// <summary>
    /// One pass in the engine's order: the feed (or a full listing), the scan (plain new files taken by the real
    /// <see cref="NewFiles"/>), the withheld table's look-ups, then the plan (with the synced tree, so plain new downloads
    /// come as <see cref="SyncActionKind.DownloadNew"/> and the new local files as one <see cref="SyncActionKind.UploadNew"/>).
    /// </summary>
    /// <remarks>
    /// The plan returned is the confirmed one (no guard: the run goes on to a fixed point); the same input is planned with
    /// an unconfirmed delete guard too (its share, minimum and adopt state drawn from <paramref name="shape"/>), which must
    /// hold the plan back exactly when it deletes more than the guard allows (see <see cref="CheckGuard"/>).
    /// </remarks>
    private static (List<SyncAction> Plan, LocalSnapshot Snapshot, RemoteView Remote, HashSet<string> Keep, HashSet<string> Injected) PlanPass(ModelWorld world, int shape, PlannerCase c)
    {
        var plain = c.Plain;
        var remote = world.Fetch();
        Coverage.AddOrUpdate("deletes before a case-conflict move put at the new name" + c.Key, world.DeletesPutAtNewName, (_, n) => n + world.DeletesPutAtNewName);
        var snapshot = world.Scan();
        var index = world.Index();
        var newFiles = new NewFiles(index, remote, world.Stability);
        var folded = remote.Changes.Keys.Concat(world.Base.Keys).Concat(snapshot.Entries.Keys).ToLookup(p => p.ToUpperInvariant(), StringComparer.Ordinal);
        foreach (var entry in snapshot.Entries.Values.Where(e => e.Kind == FileKind.File && !world.Base.ContainsKey(e.Path)).ToList())
        {
            // A name that differs only in case from another path of the pass (remote, synced or here) is left to the
            // planner and the case-conflict code: wider than SyncPlanner.ClashesRemotely (live remote names only), which
            // TryAdd applies as well (it is part of PlannerFastPaths.IsPlainNewFile).
            if (folded[entry.Path.ToUpperInvariant()].Distinct(StringComparer.Ordinal).Count() == 1 && newFiles.TryAdd(entry.Path, entry.Kind, entry.Size, entry.MtimeTicks))
            {
                snapshot.Entries.Remove(entry.Path);
            }
        }

        // The engine's local case clashes (only where the case asks for them): their facts read after the scan, the
        // snapshot edited as the plan will see it (before the reads), the planner deciding them, the executor renaming.
        var caseClashes = c.CaseRenames ? world.CaseFacts(snapshot, index, remote) : [];
        LocalCasePlan.Shape(snapshot, caseClashes);
        Coverage.AddOrUpdate("case clashes read" + c.Key, caseClashes.Count, (_, n) => n + caseClashes.Count);
        var (keep, injected) = world.Reexamine(snapshot, remote);
        newFiles.GiveBack(injected, snapshot);
        Coverage.AddOrUpdate("UploadNew files", newFiles.Count, (_, n) => n + newFiles.Count);
        var fingerprints = world.Fingerprints(snapshot);
        var unreadable = world.TakeReadErrors(snapshot, fingerprints, UnreadableRecheck);
        var input = new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(world.Base, StringComparer.Ordinal),
            Local = snapshot,
            Fingerprints = fingerprints,
            Unreadable = unreadable,
            Remote = remote.Changes,
            Synced = index,
            Refused = remote.Refusals.Paths,
            NewLocal = newFiles,
            Displaced = world.Displaced(snapshot, remote),
            // The model's scan takes one of two names that differ only in case, as a folder that folds case does. The plain
            // edits only: with withheld paths and kind clashes, a clash whose other name is deleted remotely while the delete
            // is skipped is held ("taken at the next") pass after pass, or renamed once the cursor moved past the delete
            // (the rule's behaviour as it was before it became the planner's; see NewRemoteCaseRulesTests).
            LocalCaseClashes = caseClashes,
            NewRemoteCaseClashes = NewRemoteCaseRules.Decide(remote.Changes, index, snapshot, newFiles.ByPath().Keys, foldsCase: plain, new HashSet<string>(StringComparer.Ordinal)),
        };
        var plan = SyncPlanner.Plan(input);
        var replay = SyncPlanner.Plan(input);
        if (!plan.Select(a => a.ToString()).SequenceEqual(replay.Select(a => a.ToString())))
        {
            throw new InvalidOperationException("the planner answered the same input twice differently");
        }

        CheckGuard(input, plan, shape, c.Key);
        CheckWaits(world, input, plan);
        CheckUnreadable(input, plan);

        // One plan's steps may run at once: no two of them may touch the same path (a held case clash touches none, nor
        // does the withheld skip that goes with a case clash's step).
        var caseClashPaths = plan.Where(a => a.Kind is SyncActionKind.CaseRenameRemote or SyncActionKind.CaseHoldRemote).Select(a => a.Path).ToHashSet(StringComparer.Ordinal);
        // A local case rename runs alone, before every other step (its new name's upload after it); its wait does nothing.
        var touched = plan.Where(a => a.Kind is not (SyncActionKind.CaseHoldRemote or SyncActionKind.CaseRenameLocal) && a is not { Kind: SyncActionKind.Wait, LocalCase: not null } && !(a.Kind == SyncActionKind.Skip && a.Reason == SyncPlanner.WithheldReason && caseClashPaths.Contains(a.Path))).SelectMany(a => a.Kind == SyncActionKind.UploadNew ? (IEnumerable<string>)a.NewFiles!.ByPath().Keys : a.ToPath is null ? [a.Path] : new[] { a.Path, a.ToPath }).GroupBy(p => p, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (touched is not null)
        {
            throw new PlannerPropertyException($"two steps of one plan touch '{touched.Key}': {string.Join("; ", plan.Where(a => a.Path == touched.Key || a.ToPath == touched.Key))}");
        }

        return (plan, snapshot, remote, keep, injected);
    }

    /// <summary>
    /// The delete guard's invariants over one pass's input: without confirmation a plan never deletes more files (here
    /// and remotely) than the guard allows (fewer than its minimum, or at most its share of the synced files), an empty
    /// folder's plan never deletes a file on the server, the first pass of an old db never deletes anything on the
    /// server; a plan is either the confirmed plan unchanged or one <see cref="SyncActionKind.Hold"/> (the guard holds,
    /// it never edits a plan); a confirmed guard holds nothing.
    /// </summary>
    private static void CheckGuard(PlanInput input, List<SyncAction> confirmedPlan, int shape, string key)
    {
        var synced = input.Base.Values.Count(b => b.Kind == FileKind.File);
        var folderEmpty = input.Local.Entries.Count == 0 && input.Local.Withheld.Count == 0 && (input.NewLocal?.Count ?? 0) == 0;
        var guard = new DeleteGuard { SyncedFiles = synced, FolderEmpty = folderEmpty, AdoptingOldDb = shape % 3 == 0, Share = shape % 4 * 0.25, Minimum = 1 + (shape % 5) };
        var plan = SyncPlanner.Plan(input with { Guard = guard });
        if (SyncPlanner.HeldBack(plan) is { } held)
        {
            Coverage.AddOrUpdate($"Hold: {held.Reason}{key}", 1, (_, n) => n + 1);
        }
        else if (!plan.Select(a => a.ToString()).SequenceEqual(confirmedPlan.Select(a => a.ToString())))
        {
            throw new PlannerPropertyException($"the guard changed a plan it did not hold: {string.Join("; ", plan)} instead of {string.Join("; ", confirmedPlan)}");
        }

        var fileDeletes = plan.Count(a => a.Kind is SyncActionKind.DeleteLocal or SyncActionKind.DeleteRemote);
        if (fileDeletes >= Math.Max(1, guard.Minimum) && fileDeletes > guard.Share * synced)
        {
            throw new PlannerPropertyException($"an unconfirmed plan deletes {fileDeletes} of {synced} synced files (share {guard.Share}, minimum {guard.Minimum}): {string.Join("; ", plan)}");
        }

        if (folderEmpty && plan.Any(a => a.Kind == SyncActionKind.DeleteRemote))
        {
            throw new PlannerPropertyException($"an unconfirmed plan of an empty folder deletes on the server: {string.Join("; ", plan)}");
        }

        if (guard.AdoptingOldDb && plan.Any(a => a.Kind is SyncActionKind.DeleteRemote or SyncActionKind.DeleteRemoteFolder))
        {
            throw new PlannerPropertyException($"an unconfirmed first pass of an old db deletes on the server: {string.Join("; ", plan)}");
        }

        if (SyncPlanner.HeldBack(SyncPlanner.Plan(input with { Guard = guard with { Confirmed = true } })) is not null)
        {
            throw new PlannerPropertyException("a confirmed guard held a plan back");
        }
    }

    /// <summary>
    /// The wait's invariants over one pass: a local file changed against the merge base that the scan observed unsettled
    /// gets exactly one step, a wait or a skip (never uploaded, moved, recorded, touched, deleted or conflicted, nor one of
    /// the plain new files); a wait is only for such a file (a settled one is never left waiting), says when it could be
    /// settled (its observation, more than zero), and carries the remote change that waits with it, if any (none where only
    /// the merge base disagrees on the kind and the remote side deleted the path).
    /// </summary>
    /// <summary>The re-check the model's engine gives a file it could not read (model ticks: a few writes).</summary>
    private static readonly TimeSpan UnreadableRecheck = TimeSpan.FromTicks(25);

    /// <summary>
    /// A file that could not be read is left as it is on both sides: its one step is a wait for the re-check with the remote
    /// change of the pass (if any) held (which the convergence at the end checks), or a skip (a kind clash), and nothing else of the plan touches its path (no upload, delete, download over it,
    /// move to or from it); and every wait for a read is for a file that could not be read.
    /// </summary>
    private static void CheckUnreadable(PlanInput input, List<SyncAction> plan)
    {
        foreach (var (path, unreadable) in input.Unreadable)
        {
            // A skip (a kind clash at or above it) leaves it alone too.
            var steps = plan.Where(a => a.Path == path || a.ToPath == path || (a.Kind == SyncActionKind.UploadNew && a.NewFiles!.ByPath().ContainsKey(path))).ToList();
            if (steps is [{ Kind: SyncActionKind.Skip } skip] && skip.Path == path)
            {
                continue;
            }

            // Whether its remote change was held (remembered past the cursor) shows at the end: the run must still converge.
            if (steps is not [{ Kind: SyncActionKind.Wait, Reason: SyncPlanner.UnreadableReason } wait] || wait.Path != path || wait.SettlesIn != unreadable.Recheck)
            {
                throw new PlannerPropertyException($"'{path}' could not be read and the plan does not leave it alone (one wait for its re-check): {string.Join("; ", steps.Select(a => $"{a} ({a.Reason}, in {a.SettlesIn})"))}; re-check {unreadable.Recheck}");
            }
        }

        if (plan.FirstOrDefault(a => a.Reason == SyncPlanner.UnreadableReason && !input.Unreadable.ContainsKey(a.Path)) is { } stray)
        {
            throw new PlannerPropertyException($"the plan waits to read '{stray.Path}', which was read: {stray}");
        }

        Coverage.AddOrUpdate("unreadable files", input.Unreadable.Count, (_, n) => n + input.Unreadable.Count);
    }

    private static void CheckWaits(ModelWorld world, PlanInput input, List<SyncAction> plan)
    {
        var unsettled = world.Local.Where(kv => kv.Value.Kind == ModelKind.File && world.Stability.SettlesIn(kv.Key, kv.Value.MtimeTicks) is not null
            && !(world.Base.TryGetValue(kv.Key, out var b) && b.Kind == FileKind.File && b.MtimeTicks == kv.Value.MtimeTicks && b.Size == ModelServer.Size(kv.Value.Content)))
            .Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        var steps = plan.SelectMany(a => a.Kind == SyncActionKind.UploadNew
            ? a.NewFiles!.ByPath().Keys.Select(p => (Path: p, Action: a))
            : a.ToPath is null ? [(a.Path, a)] : new[] { (a.Path, a), (a.ToPath, a) }).ToList();
        foreach (var (path, a) in steps.Where(s => unsettled.Contains(s.Path)))
        {
            if (a.Kind is not (SyncActionKind.Wait or SyncActionKind.Skip))
            {
                throw new PlannerPropertyException($"'{path}' is still being written (settles in {world.Stability.SettlesIn(path, world.Local[path].MtimeTicks)}) and the plan acts on it: {a}");
            }
        }

        foreach (var path in unsettled.Where(p => input.Local.Entries.ContainsKey(p)))
        {
            if (steps.Count(s => s.Path == path) != 1)
            {
                throw new PlannerPropertyException($"'{path}' is still being written and the plan has {steps.Count(s => s.Path == path)} steps for it, not one wait or skip: {string.Join("; ", plan)}");
            }
        }

        // A case clash's wait is for a clash read this pass that is being written: the name (a file not as synced), or any
        // file under the folder, written lately (a folder's walk looks at every file's age, synced or not).
        foreach (var wait in plan.Where(a => a is { Kind: SyncActionKind.Wait, LocalCase: not null }))
        {
            var young = world.Local.Where(kv => kv.Value.Kind == ModelKind.File && (kv.Key == wait.Path ? unsettled.Contains(kv.Key) : kv.Key.StartsWith(wait.Path + "/", StringComparison.Ordinal))
                && world.Stability.SettlesIn(kv.Key, kv.Value.MtimeTicks) is not null);
            if (!input.LocalCaseClashes.Any(c => c.Path == wait.Path) || !young.Any())
            {
                throw new PlannerPropertyException($"the plan waits to rename '{wait.Path}', which is not a case clash being written: {string.Join("; ", plan)}");
            }
        }

        foreach (var wait in plan.Where(a => a.Kind == SyncActionKind.Wait && a.Reason != SyncPlanner.UnreadableReason && a.LocalCase is null))
        {
            if (!input.Local.Entries.TryGetValue(wait.Path, out var entry) || entry.SettlesIn is not { } observed || !unsettled.Contains(wait.Path))
            {
                throw new PlannerPropertyException($"the plan waits for '{wait.Path}', which is not a changed file observed unsettled: {string.Join("; ", plan)}");
            }

            if (wait.SettlesIn != observed || wait.SettlesIn <= TimeSpan.Zero || (wait.Remote is not null && !ReferenceEquals(wait.Remote, input.Remote.GetValueOrDefault(wait.Path))))
            {
                throw new PlannerPropertyException($"the wait for '{wait.Path}' says {wait.SettlesIn} (observed {observed}) with remote {wait.Remote?.Version.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}");
            }
        }

        Coverage.AddOrUpdate("unsettled changed files", unsettled.Count, (_, n) => n + unsettled.Count);
    }

    /// <summary>True when <paramref name="path"/> or a folder above it is a file on one side and a folder on the other (here, remotely, in the db).</summary>
    private static bool ClashAtOrAbove(ModelWorld world, string path)
    {
        for (var p = path; p.Length > 0; p = ModelWorld.Parent(p))
        {
            var kinds = new HashSet<FileKind>();
            if (world.Local.TryGetValue(p, out var l))
            {
                kinds.Add(l.Kind == ModelKind.Folder ? FileKind.Folder : FileKind.File);
            }

            if (world.Server.Live.TryGetValue(p, out var r))
            {
                kinds.Add(r.Kind == ModelKind.Folder ? FileKind.Folder : FileKind.File);
            }

            if (world.Base.TryGetValue(p, out var b))
            {
                kinds.Add(b.Kind);
            }

            if (kinds.Count == 2)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Every path not withheld here and not at, under or above a path of <paramref name="skipped"/> holds the same
    /// thing here, remotely and in the db (how many were checked and left out counted under the two keys).
    /// </summary>
    private static void CheckConvergence(PlannerCase c, ModelWorld world, LocalSnapshot snapshot, HashSet<string> skipped, string checkedKey, string leftOutKey)
    {
        bool Excluded(string path) => snapshot.IsWithheld(path) || skipped.Any(s => path == s || path.StartsWith(s + "/", StringComparison.Ordinal) || s.StartsWith(path + "/", StringComparison.Ordinal));

        if (world.Leftovers.Count > 0)
        {
            Fail(c, world, $"hidden leftovers still there: {string.Join(", ", world.Leftovers.Keys)}");
        }

        var paths = world.Local.Keys.Concat(world.Server.Live.Keys).Concat(world.Base.Keys).ToHashSet(StringComparer.Ordinal);
        var excluded = paths.Count(Excluded);
        Coverage.AddOrUpdate(checkedKey, paths.Count - excluded, (_, n) => n + paths.Count - excluded);
        Coverage.AddOrUpdate(leftOutKey, excluded, (_, n) => n + excluded);
        foreach (var path in paths.Order(StringComparer.Ordinal))
        {
            if (Excluded(path))
            {
                continue;
            }

            world.Local.TryGetValue(path, out var local);
            world.Server.Live.TryGetValue(path, out var remote);
            world.Base.TryGetValue(path, out var record);
            string? wrong = (local, remote) switch
            {
                ({ Kind: ModelKind.File }, { Kind: ModelKind.File }) when local.Content != remote.Content => "different content here and remotely",
                ({ Kind: ModelKind.File }, { Kind: ModelKind.File }) when record is null || record.Kind != FileKind.File || record.Version != remote.Version
                    || !record.ContentHash.AsSpan().SequenceEqual(ModelServer.Hash(remote.Content)) || record.MtimeTicks != local.MtimeTicks => "the db does not record the synced file",
                ({ Kind: ModelKind.File }, { Kind: ModelKind.File }) => null,
                ({ Kind: ModelKind.File }, _) => "a file here that the server does not have",
                (_, { Kind: ModelKind.File }) => "a remote file missing here",
                ({ Kind: ModelKind.Folder }, { Kind: ModelKind.Folder }) => record is { Kind: FileKind.File } ? "the db records a file at a folder" : null,
                (null, { Kind: ModelKind.Folder }) => "a remote folder missing here",
                ({ Kind: ModelKind.Folder }, null) when !world.LocalHasChildren(path) => "an empty folder here that the server does not have",
                _ when record is { Kind: FileKind.File } => "the db records a file that is on neither side",
                _ => null,
            };
            if (wrong is not null)
            {
                Fail(c, world, $"not converged at '{path}': {wrong}");
            }
        }
    }

    private static string Describe(ModelWorld world)
    {
        static string Node(ModelKind kind, int content) => kind == ModelKind.Folder ? "/" : "#" + content;
        var local = string.Join(" ", world.Local.Select(kv => kv.Key + Node(kv.Value.Kind, kv.Value.Content) + (world.Unreadable.Contains(kv.Key) ? "(withheld)" : string.Empty)));
        var remote = string.Join(" ", world.Server.Live.Select(kv => $"{kv.Key}{Node(kv.Value.Kind, kv.Value.Content)}@{kv.Value.Version}"));
        var db = string.Join(" ", world.Base.Values.OrderBy(r => r.Path, StringComparer.Ordinal).Select(r => $"{r.Path}{(r.Kind == FileKind.Folder ? "/" : string.Empty)}@{r.Version}"));
        var leftovers = string.Join(" ", world.Leftovers.Select(kv => $"{kv.Key}#{kv.Value.Content}"));
        return $"local [{local}]{(leftovers.Length > 0 ? $" leftovers [{leftovers}]" : string.Empty)} remote [{remote}] db [{db}] cursor {world.Cursor?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}/{world.Server.Head}";
    }

    private static void Fail(PlannerCase c, ModelWorld world, string what) =>
        throw new PlannerPropertyException($"{what}\n  case: {c}\n  trace:\n    {string.Join("\n    ", world.Trace)}\n  end: {Describe(world)}");
}
