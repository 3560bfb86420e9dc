using System.Globalization;
using CsCheck;
using Dropbox.SyncClient.Sync;
using Dropbox.SyncClient.Tests.PlannerModel;
using Xunit.Abstractions;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Property tests of <c>SyncPlanner</c> in the style of Dropbox's CanopyCheck: random correlated trees (a synced
/// tree, then random edits to the folder and on the server), pass after pass with every step succeeding, checked
/// for termination, convergence, no lost content and idempotence (see <see cref="PlannerRun"/>); then the user
/// resolves what the planner left to them (see <see cref="ModelUser"/>) and every path must converge. CsCheck generates
/// and shrinks from one seed; a failure prints the seed and the shrunk case as C# for a regression row below.
/// Reproduce with PLANNER_PROPERTY_SEED=seed; more cases with PLANNER_PROPERTY_CASES=n (or the Long test).
/// </summary>
public sealed class SyncPlannerPropertyTests(ITestOutputHelper output)
{
    private static readonly Gen<PlannerOp> Op = Gen.Select(Gen.Int[0, 32], Gen.Int[0, 15], Gen.Int[0, 7], Gen.Int[0, 7], (k, a, b, c) => new PlannerOp(k, a, b, c));

    /// <summary>The stable age in local writes: 0 (the rule off) or the last 1 to 4 writes observed unsettled at the first pass.</summary>
    private static readonly Gen<int> StableAge = Gen.Int[0, 4];

    /// <summary>How many re-checks find a file the plan waits for written again (still being written).</summary>
    private static readonly Gen<int> Rewrites = Gen.Int[0, 2];

    /// <summary>Files here that cannot be read for a few passes (a chmod 000, an I/O error): none in most cases.</summary>
    private static readonly Gen<PlannerOp[]> ReadErrors = Gen.Frequency((3, Gen.Const(Array.Empty<PlannerOp>())), (1, Op.Array[1, 2]));

    /// <summary>Hidden leftovers a stopped client left (see <see cref="PlannerCase.Leftovers"/>): none in most cases.</summary>
    private static readonly Gen<PlannerOp[]> Leftovers = Gen.Frequency((3, Gen.Const(Array.Empty<PlannerOp>())), (1, Op.Array[1, 3]));

    /// <summary>The files that cannot be read and the leftovers, drawn together.</summary>
    private static readonly Gen<(PlannerOp[] ReadErrors, PlannerOp[] Leftovers)> Extras = Gen.Select(ReadErrors, Leftovers, (r, l) => (r, l));

    /// <summary>Edits made while the first fixed point waits for the user (aimed at what it left to them): none in half the cases.</summary>
    private static readonly Gen<PlannerOp[]> Later = Gen.Frequency((1, Gen.Const(Array.Empty<PlannerOp>())), (1, Op.Array[1, 3]));

    private static readonly Gen<PlannerCase> Cases = Gen.Select(Gen.Select(Op.Array[0, 8], Op.Array[0, 6], Op.Array[0, 6], Gen.Int[0, 1000]), StableAge, Rewrites, Extras, Later,
        (t, age, rewrites, extras, later) => new PlannerCase(t.Item1, t.Item2, t.Item3, t.Item4, StableAge: age, Rewrites: rewrites, ReadErrors: extras.ReadErrors, Later: later, Leftovers: extras.Leftovers));

    private static readonly Gen<PlannerCase> PlainCases = Gen.Select(Gen.Select(Op.Array[0, 8], Op.Array[0, 6], Op.Array[0, 6], Gen.Int[0, 1000]), StableAge, Rewrites, Extras, Later,
        (t, age, rewrites, extras, later) => new PlannerCase(t.Item1, t.Item2, t.Item3, t.Item4, Plain: true, StableAge: age, Rewrites: rewrites, ReadErrors: extras.ReadErrors, Later: later, Leftovers: extras.Leftovers));

    /// <summary>The first generator's trees with the engine's local case clashes given to the planner (read from the model's folder) and renamed by the executor.</summary>
    private static readonly Gen<PlannerCase> CaseRenameCases = Cases.Select(c => c with { CaseRenames = true });

    private static long CiCases => Environment.GetEnvironmentVariable("PLANNER_PROPERTY_CASES") is { } n ? long.Parse(n, CultureInfo.InvariantCulture) : 10_000;

    [Fact]
    public void The_planner_converges_without_losing_content_over_random_trees()
    {
        if (Sample(Cases, CiCases))
        {
            AssertCheckedFloor("paths checked before resolving", "paths left out before resolving", 0.55); // 0.61 at 10,000 cases: withheld paths and clashes
            AssertCheckedFloor("paths checked", "paths left out", 1.0); // once the user resolved what was left to them, every path
            AssertResolved(string.Empty, "made readable", "case clash: renamed here", "case clash: renamed remotely", "case clash: deleted here", "case clash: deleted remotely",
                "case clash, the name taken: renamed here", "case clash, the name taken: deleted here", "kind clash: renamed here", "kind clash: renamed remotely", "kind clash: deleted here", "kind clash: deleted remotely");
            AssertPlanned("cases edited while left to the user");
            AssertPlanned(nameof(SyncActionKind.UploadNew));
            AssertPlanned(nameof(SyncActionKind.Wait));
            AssertPlanned("written again while waited for");
            AssertPlanned("Hold: " + nameof(DeleteHoldReason.EmptyFolder));
            AssertPlanned("Hold: " + nameof(DeleteHoldReason.MassDelete));
            AssertPlanned("Hold: " + nameof(DeleteHoldReason.OldDbFirstPass));
            AssertPlanned("unreadable files");
            AssertPlanned(nameof(SyncActionKind.RemoveDisplaced));
            AssertPlanned(nameof(SyncActionKind.KeepDisplaced));
            AssertPlanned("KeepDisplaced, sent by a later pass");
            AssertPlanned(nameof(SyncActionKind.RecordFolder)); // about 70 in 10,000 cases
        }
    }

    [Fact]
    public void The_planner_converges_without_losing_content_over_random_plain_edits()
    {
        if (Sample(PlainCases, CiCases))
        {
            AssertCheckedFloor("paths checked before resolving (plain)", "paths left out before resolving (plain)", 0.88); // 0.93 at 10,000 cases
            AssertCheckedFloor("paths checked (plain)", "paths left out (plain)", 1.0);
            AssertResolved(" (plain)", "kind clash: renamed here", "kind clash: renamed remotely", "kind clash: deleted here", "kind clash: deleted remotely");
            AssertPlanned("cases edited while left to the user (plain)");
            AssertPlanned(nameof(SyncActionKind.UploadNew) + " (plain)");
            AssertPlanned(nameof(SyncActionKind.Wait) + " (plain)");
            AssertPlanned("written again while waited for (plain)");
            AssertPlanned("Hold: " + nameof(DeleteHoldReason.MassDelete) + " (plain)");
            AssertPlanned(nameof(SyncActionKind.RemoveDisplaced) + " (plain)");
            AssertPlanned(nameof(SyncActionKind.KeepDisplaced) + " (plain)");
            // Not asserted: CaseRenameRemote comes about once in 10,000 plain cases, so a CI-sized run missed it about one
            // time in three (a red run by chance). Its planning is tested case by case in NewRemoteCaseRulesTests.
        }
    }

    [Fact]
    public void The_planner_renames_local_case_clashes_and_converges_without_losing_content_over_random_trees()
    {
        if (Sample(CaseRenameCases, CiCases))
        {
            AssertCheckedFloor("paths checked before resolving (case renames)", "paths left out before resolving (case renames)", 0.55);
            AssertCheckedFloor("paths checked (case renames)", "paths left out (case renames)", 1.0);
            AssertPlanned(nameof(SyncActionKind.CaseRenameLocal) + " (case renames)");
            AssertPlanned("CaseRenameLocal: a folder (case renames)");
            AssertPlanned("CaseRenameLocal: a folder, on the server first (case renames)");
            AssertPlanned("CaseRenameLocal: a file, on the server first (case renames)");
            AssertPlanned("CaseRenameLocal: a file here alone, sent under its new name (case renames)");
            AssertPlanned("CaseRenameLocal not made, its steps held (case renames)");
            AssertPlanned("CaseRenameLocal: a folder, following the server (case renames)");
            AssertPlanned("CaseRenameLocal following the server failed here (case renames)");
            AssertPlanned("CaseRenameLocal waits to follow the server (case renames)");
            AssertPlanned("steps held by a case-conflict rename not made (case renames)");
            AssertPlanned(nameof(SyncActionKind.UploadNew) + " (case renames)");
            AssertPlanned(nameof(SyncActionKind.KeepDisplaced) + " (case renames)");
            AssertPlanned(nameof(SyncActionKind.RecordFolder) + " (case renames)"); // about 60 in 10,000 cases
            AssertPlanned("deletes before a case-conflict move put at the new name (case renames)"); // about 35 in 10,000 cases
            // Not asserted: the deletes MoveRows remembers at a followed row's new path (the seed 4wMSN0b-a4m1 row below)
            // come about twice in 10,000 cases, so a CI-sized run would miss them about one time in ten.
        }
    }

    /// <summary>
    /// The random trees of one generator (its coverage key: the kind, with " (plain)" for the plain edits) must reach
    /// this kind of step (the plain new local files: one UploadNew a pass that has any).
    /// </summary>
    private static void AssertPlanned(string key) =>
        Assert.True(PlannerRun.Coverage.GetValueOrDefault(key) > 0, $"no case planned a {key}: the property does not cover it");

    /// <summary>The random trees of one generator must reach each of these ways of resolving what was left to the user.</summary>
    private static void AssertResolved(string generator, params string[] kinds)
    {
        foreach (var kind in kinds)
        {
            AssertPlanned($"resolved by the user: {kind}{generator}");
        }
    }

    /// <summary>
    /// The convergence check at the first fixed point leaves out skipped paths, and must still check most of them; after
    /// the user resolved what was left to them it leaves out what is still left, and must check every path.
    /// </summary>
    private static void AssertCheckedFloor(string checkedKey, string leftOutKey, double floor)
    {
        var checkedPaths = PlannerRun.Coverage.GetValueOrDefault(checkedKey);
        var leftOut = PlannerRun.Coverage.GetValueOrDefault(leftOutKey);
        Assert.True(checkedPaths >= floor * (checkedPaths + leftOut), $"the convergence check covered {checkedPaths} paths and left out {leftOut}: below the floor of {floor:P0}");
    }

    [Fact]
    [Trait("Category", "Long")]
    public void The_planner_converges_without_losing_content_over_millions_of_random_trees() => Sample(Cases, 2_000_000);

    [Fact]
    [Trait("Category", "Long")]
    public void The_planner_renames_local_case_clashes_over_millions_of_random_trees() => Sample(CaseRenameCases, 1_000_000);

    [Fact]
    [Trait("Category", "Long")]
    public void The_planner_converges_without_losing_content_over_millions_of_random_plain_edits() => Sample(PlainCases, 1_000_000);

    // Shrunk failures, kept as they were printed (name: what went wrong, and the seed that found it).
    private static readonly Dictionary<string, PlannerCase> Shrunk = new()
    {
        // The folder B replaced a file remotely (with B/a inside) while the file is unchanged here: the download of
        // B/a could never make its folder, an error every pass (seed eXhXB8whj3e1, of the first generator; the row still fails without the fix).
        ["download under a file here"] = new PlannerCase([new(7, 13, 7, 3)], [], [new(8, 5, 5, 1)], 857),

        // A/a/A deleted here (all of A), replaced by a folder remotely: skipped as a kind clash, so A's remote delete
        // was refused (not empty) pass after pass (seed 8WviHlD8UTo1, found without the fix).
        ["file deleted here, replaced by a folder remotely"] = new PlannerCase([new(12, 13, 4, 2), new(3, 2, 1, 4), new(7, 10, 5, 2)], [new(30, 9, 0, 3), new(6, 4, 0, 0)], [new(17, 1, 5, 5), new(12, 6, 1, 3), new(30, 5, 2, 0)], 432),

        // The same with a folder b/B replaced by a file remotely (seed 9OqDHkjLJ1d2).
        ["folder deleted here, replaced by a file remotely"] = new PlannerCase([new(15, 5, 6, 1), new(21, 5, 7, 3), new(21, 0, 3, 4)], [new(14, 13, 6, 7)], [new(19, 2, 5, 1), new(21, 12, 4, 2)], 974),

        // A remote move of a into B/ where B is a file here (a folder remotely): the rename failed every pass
        // (seed 62gVUL6FiOE1, found without the fix).
        ["remote move under a file here"] = new PlannerCase([new(10, 9, 6, 0), new(27, 8, 4, 0), new(4, 9, 0, 3)], [], [new(8, 10, 7, 2), new(17, 3, 7, 6)], 685),

        // A kind clash (a file here, a folder remotely) skipped once, then forgotten when the cursor moved past it: the
        // engine's cursor bug (sync-fixes remembers withheld paths; a kind clash needs the same). The model remembers
        // every skipped remote change (seeds 7lg8iGr8R-q1, cg_ixu7xTTx2, of the first generator).
        ["kind clash forgotten past the cursor"] = new PlannerCase([new(25, 7, 0, 3)], [], [new(21, 15, 7, 1), new(8, 12, 6, 2)], 459),
        ["kind clash then an edit here"] = new PlannerCase([new(13, 15, 3, 7), new(28, 8, 5, 7)], [new(22, 1, 1, 5)], [new(8, 13, 1, 4)], 221),

        // Issue 14's case clash: a synced, A created here (the scan withholds a), a deleted remotely (skipped, the cursor
        // moves past it); the user renames A away, and a, as it was, must go too. Built by hand; with a model that does not
        // remember a withheld path's skipped change it fails ("not converged at 'a': a file here that the server does
        // not have"), and the convergence check before the user resolved anything could not see it (a is left out).
        ["withheld name's remote delete applied once the case clash is gone"] = new PlannerCase([new(1, 0, 0, 0)], [new(4, 0, 0, 2)], [new(2, 0, 0, 0)], 0),

        // A symbolic link B (withheld) edited remotely; once the user makes it a file again the edit must reach it. Found
        // (seed 627pN6wUy5s1) with that model fault planted: "not converged at 'B': different content here and remotely".
        ["withheld link's remote edit applied once it is readable"] = new PlannerCase([new(19, 0, 4, 7), new(27, 12, 5, 1)], [new(20, 0, 1, 3)], [new(22, 7, 5, 3)], 98, StableAge: 3, Rewrites: 2),

        // A synced file replaced here by a folder the scan cannot read (withheld), edited remotely: the edit is skipped
        // while it is withheld and the cursor moves on, so the next pass saw no remote change and deleted the server's
        // file with its old version, refused, pass after pass ("no fixed point after 8 passes ... KindConflict a"; seed
        // cn5kfjfoHDz2, found in a CI-sized run). Left alone while withheld.
        ["unreadable folder where a synced file was, its remote edit skipped"] = new PlannerCase([new(23, 11, 7, 0), new(26, 6, 2, 0)], [new(8, 13, 5, 6), new(12, 0, 4, 4), new(15, 15, 2, 0), new(0, 12, 0, 3), new(4, 15, 2, 2), new(31, 15, 3, 1)], [new(26, 6, 0, 5), new(26, 1, 7, 2), new(23, 12, 3, 3)], 446, Later: [new(1, 11, 7, 5), new(18, 3, 0, 6), new(31, 7, 0, 5)]),
    };

    // Found by the case-rename generator while its planner steps were made (issue 14), each without the fix named:
    // hidden leftovers in a folder renamed for a case clash were kept at their old holding names after the rename had
    // moved them ("not converged at 'A/A/B (conflicted copy model 2026-12-01)'": the planner now leaves them to the next
    // pass); a synced folder renamed on the server first moved the row of a file whose remote delete was withheld, so the
    // file was taken as synced under the new name while the server never had it ("not converged at 'b (Case Conflict)/B':
    // a file here that the server does not have"; rows with a remembered withheld change no longer follow, CaseConflicts.Unsure).
    private static readonly Dictionary<string, PlannerCase> ShrunkCaseRenames = new()
    {
        ["leftovers in a folder renamed for a case clash"] = new PlannerCase([new(3, 15, 7, 2), new(0, 14, 3, 0), new(10, 5, 6, 1), new(10, 1, 5, 3), new(0, 3, 0, 0)], [new(29, 5, 3, 1)], [new(8, 13, 6, 5)], 978, StableAge: 2, Leftovers: [new(14, 3, 5, 1), new(31, 0, 2, 6), new(26, 5, 7, 3)], CaseRenames: true),
        // (And two model faults: a folder leaving for a remote file left behind a leftover the plan left to the next pass,
        // and took a folder holding only such a leftover for empty.)
        ["leftover in a case-renamed folder inside a folder leaving for a file"] = new PlannerCase([new(12, 2, 2, 4), new(13, 4, 3, 5), new(14, 2, 3, 7), new(3, 4, 3, 6), new(27, 10, 7, 5)], [new(30, 8, 0, 1), new(18, 4, 5, 6)], [new(31, 9, 0, 2), new(1, 2, 2, 6), new(1, 11, 6, 1), new(12, 13, 7, 7), new(18, 1, 5, 0)], 168, StableAge: 1, Later: [new(26, 3, 0, 3), new(4, 2, 1, 5), new(8, 0, 3, 5)], Leftovers: [new(15, 13, 4, 4), new(15, 13, 1, 6), new(8, 0, 7, 5)], CaseRenames: true),
        ["leftover in a case-renamed folder inside a folder leaving for a file, its folder otherwise empty"] = new PlannerCase([new(18, 14, 2, 7), new(19, 5, 3, 5), new(1, 6, 6, 4), new(28, 9, 3, 1), new(9, 10, 1, 6), new(27, 8, 5, 0), new(8, 12, 3, 6)], [new(10, 9, 1, 2), new(7, 10, 1, 0), new(19, 4, 3, 4)], [new(1, 5, 4, 5), new(7, 8, 3, 1), new(0, 7, 3, 5), new(31, 10, 4, 5), new(30, 7, 7, 0), new(24, 2, 3, 6)], 34, StableAge: 2, Rewrites: 2, Later: [new(5, 12, 7, 4), new(2, 10, 4, 7)], Leftovers: [new(11, 2, 2, 1), new(28, 5, 1, 0)], CaseRenames: true),
        ["row of a withheld remote delete moved with its folder"] = new PlannerCase([new(3, 1, 4, 5), new(11, 8, 6, 7), new(9, 3, 6, 6), new(19, 12, 5, 7)], [new(5, 5, 6, 7)], [new(13, 14, 4, 7), new(20, 2, 5, 1), new(26, 5, 7, 2), new(27, 4, 2, 6)], 742, StableAge: 2, ReadErrors: [new(20, 12, 5, 0)], Later: [new(8, 9, 5, 6)], CaseRenames: true),

        // A folder 'a' following another device's move to 'a (Case Conflict)' waits (a file in it young), then its rename
        // fails (a file made at its new name); the next pass renames it elsewhere and waits on that file, holding the
        // cursor: the remote folder 'a (Case Conflict)' taken from the memory of followed moves, which that pass forgot,
        // was neither listed again nor remembered ("no fixed point after 10 passes ... CreateLocalFolder a (Case
        // Conflict)/B"; seed fJ-R7pBNzQs2): the memory now goes with the cursor.
        ["followed move forgotten while a wait held the cursor"] = new PlannerCase([new(18, 5, 3, 4), new(9, 8, 7, 5), new(25, 14, 4, 7)], [new(16, 8, 7, 5), new(30, 0, 6, 5), new(16, 4, 4, 6), new(31, 0, 3, 6)], [new(22, 5, 0, 0), new(7, 4, 7, 1), new(18, 13, 4, 3), new(26, 9, 0, 0)], 108, StableAge: 4, CaseRenames: true),

        // An edited file 'B' following another device's move to 'B (Case Conflict)' is not renamed (it fails here), and a
        // download of 'b' (a name differing only in case) is held with it; the next pass, its view holding 'B''s move
        // from the memory but not 'b' (only the withheld lookup, after the facts, brings it), saw no clash: 'B' was sent
        // under its old name and 'b' came down beside it ("not converged at 'B': a remote file missing here"): the memory
        // keeps what the hold held in any case.
        ["followed move remembered without the download held in another case"] = new PlannerCase([new(8, 12, 7, 0), new(22, 0, 5, 2), new(1, 8, 4, 3)], [new(28, 14, 4, 6), new(5, 13, 4, 6), new(2, 13, 7, 3), new(6, 7, 7, 0), new(6, 8, 6, 3), new(22, 15, 2, 4)], [new(17, 11, 2, 5), new(5, 14, 6, 4), new(29, 0, 7, 6), new(0, 4, 5, 3)], 849, StableAge: 1, Later: [new(6, 11, 4, 0)], Leftovers: [new(10, 6, 4, 3), new(2, 11, 3, 5)], CaseRenames: true),

        // Then: 'B' uploaded here while 'b' (differing only in case) follows a move and is not renamed; the memory kept the
        // server's older delete of 'B' (its fold is 'b''s), and the next pass, whose listing dropped the echo of the
        // upload, put that delete back: 'B' was deleted here, kept on the server ("not converged at 'B': a remote file
        // missing here"; seed fOv8zrqp3FR2). The memory keeps only what the hold held, and never puts back a path synced
        // since at a newer version.
        ["followed move's memory of a path uploaded since in another case"] = new PlannerCase([new(26, 8, 0, 6), new(1, 15, 7, 5), new(26, 10, 2, 7), new(22, 14, 6, 2), new(32, 5, 4, 5), new(32, 14, 7, 6), new(24, 9, 1, 1)], [new(4, 6, 4, 3), new(32, 2, 3, 1)], [new(18, 1, 3, 7), new(28, 2, 6, 3), new(24, 3, 1, 7), new(18, 14, 3, 4), new(3, 0, 2, 0)], 892, StableAge: 4, Rewrites: 2, Later: [new(19, 6, 2, 3), new(6, 12, 0, 5), new(8, 9, 2, 2)], CaseRenames: true),

        // A folder renamed for a case clash on the server first: the server gives every child a new version but the reply
        // carries only the moved folder's; a nested folder's later case-conflict rename went with its row's stale version,
        // was refused, made here alone, and the server's old folder came down and clashed again ("no fixed point after 12
        // passes ... CaseRenameLocal a (Case Conflict 2)/b -> ... (Case Conflict 3)"; seed bSC15w_kmxZ2).
        ["nested folder renamed with a version gone stale by its parent's move"] = new PlannerCase([new(14, 3, 6, 0), new(23, 7, 5, 1), new(19, 0, 1, 1)], [new(21, 9, 3, 6), new(32, 4, 2, 5), new(30, 7, 2, 7)], [new(8, 10, 4, 7), new(32, 13, 5, 1), new(27, 8, 5, 7)], 514, StableAge: 3, Rewrites: 1, Later: [new(7, 10, 1, 2)], CaseRenames: true),

        // The same once the model lets a folder's rename fail (its new name made right before it): a nested folder's
        // rename, failed here, went next pass with its row's stale version, was refused, made here alone, and the server's
        // folder came down and clashed again (seeds bsmfHjj2juy1: "no fixed point after 12 passes ... MoveRemote a (Case
        // Conflict)/a/b (Case Conflict) -> a (Case Conflict)/a (Case Conflict 3)/b (Case Conflict)"; dxrCXupcfrL1: "no
        // fixed point after 8 passes ... Download a (Case Conflict)/b (Case Conflict 3)/a"; not shrunk).
        ["nested folder's failed rename retried with a version gone stale by its parent's move"] = new PlannerCase([new(15, 0, 0, 4), new(13, 7, 2, 0), new(14, 11, 5, 6), new(2, 2, 3, 1), new(4, 3, 1, 5), new(7, 15, 7, 6)], [], [new(27, 12, 0, 2), new(8, 7, 3, 2), new(7, 3, 4, 2), new(19, 0, 1, 1), new(16, 6, 7, 1), new(32, 4, 7, 4)], 377, Rewrites: 1, CaseRenames: true),
        ["nested folder's failed rename retried with a stale version, then moved inside a renamed folder"] = new PlannerCase([new(3, 3, 1, 0), new(14, 7, 6, 1), new(18, 5, 1, 0), new(4, 7, 5, 2), new(9, 0, 4, 1), new(18, 6, 5, 1), new(25, 10, 3, 0), new(23, 14, 6, 7)], [new(3, 14, 1, 2), new(16, 5, 3, 6), new(26, 9, 7, 1), new(8, 10, 3, 2), new(17, 1, 4, 6)], [new(6, 2, 0, 0), new(23, 1, 2, 0), new(7, 10, 5, 6), new(6, 10, 2, 6), new(16, 2, 5, 6), new(18, 15, 3, 0)], 498, StableAge: 2, Rewrites: 2, CaseRenames: true),

        // A folder's rename not made (its new name made right before it as a file) after its child had moved on the
        // server: the child's path, skipped, was looked up from the withheld table each pass, and the file at its folder's
        // name here stayed a plain new file: uploaded onto the server's folder and the folder made under it, both failing
        // every pass ("no fixed point after 10 passes ... CreateLocalFolder a (Case Conflict)/A; UploadNew 0 file(s)";
        // seed 4LPlFAlYKCA1): NewFiles.GiveBack gives back a file above a looked-up path too.
        ["file made at a folder's new name, the folder's moved child looked up below it"] = new PlannerCase([new(18, 4, 6, 4), new(2, 15, 3, 5), new(17, 8, 5, 2), new(20, 6, 0, 6), new(29, 15, 5, 1), new(9, 4, 3, 7)], [new(12, 9, 6, 5), new(30, 1, 5, 6)], [new(19, 8, 6, 2), new(9, 13, 0, 0), new(2, 9, 6, 1), new(1, 6, 5, 3), new(18, 8, 2, 1)], 366, StableAge: 4, Rewrites: 2, Later: [new(9, 12, 1, 2), new(23, 12, 4, 5)], CaseRenames: true),

        // A synced folder the scan lists but cannot enter (withheld), made again on the server (listed at a newer version
        // than its row): nothing was planned for it, so its row kept the old version; then a name clashing with it came
        // down, and its case-conflict rename went to the server with that version, was refused twice, made here alone,
        // and the server's folder came down and clashed again ("no fixed point after 8 passes ... DeleteRemoteFolder b;
        // MoveRemote b/B -> b (Case Conflict 3)/B"; seed 8wL3IkUjDy72, and 40aUl64wMmj2: "... DeleteRemoteFolder a;
        // MoveRemote a/A -> a (Case Conflict 3)/A"; shrunk by hand, op by op). The row now takes the listed version
        // (SyncActionKind.RecordFolder).
        ["withheld folder made again on the server, its row's version stale"] = new PlannerCase([new(21, 10, 3, 1)], [new(31, 7, 7, 5)], [new(15, 8, 3, 7), new(6, 14, 0, 3), new(7, 0, 1, 7), new(26, 0, 2, 7)], 618, CaseRenames: true),
        ["withheld folder made again on the server, its row's version stale, the clashing name a folder"] = new PlannerCase([new(12, 13, 6, 0)], [new(31, 7, 1, 1)], [new(7, 1, 2, 3), new(27, 0, 4, 4), new(4, 8, 2, 6)], 544, CaseRenames: true),

        // Another device deletes the empty folder b/a, then moves b to 'b (Case Conflict)'; this client reads both in one view
        // (DeletesBeforeCaseMoves puts the delete at 'b (Case Conflict)/a'), its rename following the move fails once, then
        // is made: the row follows to the new name and the delete there, withheld with both names that pass, is the one
        // MoveRows remembers with the rows' moves. The model's executor did not remember it (the row moved, the delete
        // lost): "not converged at 'b (Case Conflict)/a': an empty folder here that the server does not have" (seed
        // 4wMSN0b-a4m1, as printed, not shrunk). A fault of the model, not of the engine: it now mirrors MoveRows.
        ["folder deleted before another device's case-conflict move, followed after a failed rename"] = new PlannerCase([new(20, 10, 3, 2), new(2, 14, 1, 0), new(20, 4, 2, 0), new(24, 4, 3, 1), new(12, 8, 1, 0), new(30, 0, 1, 0)], [new(21, 4, 4, 3), new(22, 10, 7, 2), new(4, 13, 3, 0), new(16, 5, 0, 7)], [new(27, 2, 7, 0), new(2, 2, 0, 3), new(2, 12, 3, 5), new(3, 9, 7, 6), new(29, 14, 7, 3)], 295, StableAge: 4, Later: [new(29, 5, 2, 7), new(5, 13, 4, 7)], CaseRenames: true),

        // This client's own case-conflict move of b, the empty folder b/B deleted on the server before it; a wait held the
        // cursor, so the next pass read the feed from before the delete: b/B's folder here, new under the new name, was made
        // on the server ('b (Case Conflict)/B'), and the pass after, reading from the same cursor, had the echo of that
        // dropped and DeletesBeforeCaseMoves put the old delete over it: the folder deleted here, kept on the server ("not
        // converged at 'b (Case Conflict)/B': a remote folder missing here"; seed 262j9vvfYg91, as printed, found in a run
        // of 400,000 cases). Not put where the db holds the new path at a version newer than the delete.
        ["delete before a case-conflict move read again over a folder made at the new name since"] = new PlannerCase([new(5, 5, 2, 4), new(0, 11, 5, 1), new(20, 1, 2, 7), new(10, 4, 3, 6), new(27, 1, 3, 3)], [new(26, 13, 6, 3)], [new(3, 11, 7, 1), new(16, 15, 0, 7), new(16, 2, 0, 1)], 748, StableAge: 3, Rewrites: 2, Later: [new(8, 3, 3, 4), new(30, 10, 5, 4), new(9, 6, 7, 1)], CaseRenames: true),

        // Another device deletes files under a folder, then moves the folder to its case-conflict name; this client follows
        // the move, and the deletes it carries to the new paths (remembered by MoveRows, or put there by
        // DeletesBeforeCaseMoves) are at paths the server never held. The pass that took one withheld its path here (a link,
        // or a folder it could not enter) and stored its cursor: the memory went with it, and the path's lookup, once the
        // user made it readable, found nothing on the server, so the file stayed here as synced ("not converged at ... a
        // file here that the server does not have"; seeds 5yuK37HOMIz1, dQA4QpKZjAj2 and epw5NXtMdS62, in this order, as
        // printed, not shrunk). Such a delete is now remembered on while its path is withheld (FollowedCaseMoves.StillWithheld;
        // WithheldCarriedDeleteTests has the engine's).
        ["delete carried to a followed row's new path, its path a link here when taken"] = new PlannerCase([new(24, 15, 5, 1), new(21, 4, 2, 7), new(24, 10, 1, 3), new(26, 8, 4, 4), new(10, 8, 3, 4), new(26, 4, 3, 4), new(13, 10, 5, 2)], [new(20, 14, 7, 0), new(15, 0, 2, 0), new(17, 10, 3, 7)], [new(1, 3, 7, 5), new(2, 8, 7, 0), new(25, 3, 1, 7), new(6, 0, 6, 5), new(27, 13, 2, 0), new(7, 5, 3, 4)], 260, StableAge: 3, Rewrites: 2, ReadErrors: [new(13, 13, 2, 4)], CaseRenames: true),
        ["delete carried to a followed row's new path, in a folder here that cannot be read"] = new PlannerCase([new(12, 6, 6, 4), new(10, 14, 5, 7), new(7, 0, 4, 6)], [new(20, 14, 2, 3), new(5, 10, 5, 7), new(27, 10, 7, 0), new(10, 2, 4, 6)], [new(27, 12, 4, 0), new(24, 9, 3, 3), new(12, 6, 5, 5), new(7, 13, 3, 7), new(5, 15, 3, 1), new(17, 10, 2, 2)], 121, StableAge: 4, Rewrites: 2, CaseRenames: true),
        ["delete carried to a followed row's new path after failed renames, its path a link here"] = new PlannerCase([new(6, 11, 6, 1), new(7, 6, 5, 7)], [new(20, 5, 7, 3), new(16, 10, 0, 7), new(5, 9, 1, 0)], [new(13, 4, 4, 5), new(29, 9, 3, 6)], 961, Later: [new(8, 14, 5, 3)], CaseRenames: true),
    };

    public static TheoryData<string> ShrunkCaseRenameNames => new(ShrunkCaseRenames.Keys);

    [Theory]
    [MemberData(nameof(ShrunkCaseRenameNames))]
    public void Shrunk_case_rename_failures_converge(string name) => PlannerRun.Check(ShrunkCaseRenames[name]);

    public static TheoryData<string> ShrunkNames => new(Shrunk.Keys);

    [Theory]
    [MemberData(nameof(ShrunkNames))]
    public void Shrunk_failures_converge(string name) => PlannerRun.Check(Shrunk[name]);

    /// <summary>
    /// Runs the cases; false when they are a single seed's repro (PLANNER_PROPERTY_SEED), whose one case says nothing
    /// about coverage, so the caller skips its coverage asserts.
    /// </summary>
    private bool Sample(Gen<PlannerCase> gen, long cases)
    {
        var seed = Environment.GetEnvironmentVariable("PLANNER_PROPERTY_SEED");
        var started = System.Diagnostics.Stopwatch.StartNew();
        gen.Sample(PlannerRun.Check, output.WriteLine, seed: seed, iter: seed is null ? cases : 1, threads: -1, print: c => c.ToString());
        output.WriteLine($"{cases} cases in {started.Elapsed.TotalSeconds:F1} s; planned (all cases so far in this process):");
        foreach (var (what, count) in PlannerRun.Coverage.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {what}: {count}");
        }

        return seed is null;
    }
}
