using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The planner's rule for new remote files whose names clash in case with a name here (<see cref="NewRemoteCaseRules"/>):
/// which clash, with what, and whether each is renamed on the server, waits for the other name to go, or is held back
/// while the probe cannot tell; and how the planner applies it (<see cref="SyncPlanner.Plan"/>).
/// </summary>
public sealed class NewRemoteCaseRulesTests
{
    private static readonly byte[] Hash = [1];

    // here: "synced:PATH", "synced-deleted:PATH" (synced, deleted on the server this pass), "scanned:PATH",
    // "withheld:PATH", "new:PATH" (a plain new local file), "remote:PATH" (another new remote file); ';' between.
    // Expected: "PATH>Outcome>Clash>Other>Target" per clash, ';' between ("" for none).
    [Theory]
    [InlineData("synced:Readme.txt", "README.txt", true, "README.txt>RenameOnServer>README.txt>Readme.txt>README (Case Conflict).txt")]
    [InlineData("synced:Readme.txt", "README.txt", null, "README.txt>HeldBack>README.txt>Readme.txt>")]
    [InlineData("synced:Readme.txt", "README.txt", false, "")] // a folder that tells case apart: no clash
    [InlineData("synced-deleted:Readme.txt", "README.txt", true, "README.txt>TakenNextPass>README.txt>Readme.txt>")]
    [InlineData("synced-deleted:Readme.txt", "README.txt", null, "README.txt>TakenNextPass>README.txt>Readme.txt>")]
    [InlineData("scanned:Readme.txt", "README.txt", true, "README.txt>RenameOnServer>README.txt>Readme.txt>README (Case Conflict).txt")]
    [InlineData("withheld:Readme.txt", "README.txt", true, "README.txt>RenameOnServer>README.txt>Readme.txt>README (Case Conflict).txt")]
    [InlineData("new:Readme.txt", "README.txt", true, "README.txt>RenameOnServer>README.txt>Readme.txt>README (Case Conflict).txt")]
    [InlineData("synced:Readme.txt", "Readme.txt", true, "")] // its own name (a new version): no clash
    [InlineData("synced:Other.txt", "README.txt", true, "")]
    // A folder above it clashes: the outermost clashing part is renamed whole.
    [InlineData("synced:Docs/a.txt", "docs/b.txt", true, "docs/b.txt>RenameOnServer>docs>Docs>docs (Case Conflict)/b.txt")]
    [InlineData("synced:Docs/Sub/a.txt", "docs/sub/b.txt", true, "docs/sub/b.txt>RenameOnServer>docs>Docs>docs (Case Conflict)/sub/b.txt")]
    [InlineData("synced:Docs/Sub/a.txt", "Docs/SUB/b.txt", true, "Docs/SUB/b.txt>RenameOnServer>Docs/SUB>Docs/Sub>Docs/SUB (Case Conflict)/b.txt")]
    // Two new remote names: the first in ordinal order keeps its name.
    [InlineData("remote:a.txt", "A.txt", true, "a.txt>RenameOnServer>a.txt>A.txt>a (Case Conflict).txt")]
    // A name taken here or in the remote view, in any case, is passed over.
    [InlineData("synced:Readme.txt;synced:readme (case conflict).txt", "README.txt", true, "README.txt>RenameOnServer>README.txt>Readme.txt>README (Case Conflict 2).txt")]
    [InlineData("synced:Readme.txt;remote:readme (case conflict).txt", "README.txt", true, "README.txt>RenameOnServer>README.txt>Readme.txt>README (Case Conflict 2).txt")]
    public void A_new_remote_file_clashing_in_case_is_renamed_on_the_server_waits_or_is_held(string here, string newRemote, bool? foldsCase, string expected)
    {
        var (remote, synced, local, newLocal) = Pass(here, newRemote);

        var clashes = NewRemoteCaseRules.Decide(remote, synced, local, newLocal, foldsCase, new HashSet<string>(StringComparer.Ordinal));

        Assert.Equal(expected, string.Join(";", clashes.Select(c => $"{c.Path}>{c.Outcome}>{c.Clash}>{c.Other}>{c.Target}")));
    }

    [Fact]
    public void A_name_the_server_refused_before_is_never_picked_first()
    {
        var (remote, synced, local, newLocal) = Pass("synced:Readme.txt", "README.txt");

        var clash = Assert.Single(NewRemoteCaseRules.Decide(remote, synced, local, newLocal, true, new HashSet<string>(StringComparer.Ordinal) { "README (Case Conflict).txt" }));

        Assert.Equal("README (Case Conflict 2).txt", clash.Target);
        Assert.Equal(9UL, clash.Version);
    }

    [Fact]
    public void Two_new_files_under_one_clashing_folder_go_to_one_renamed_folder()
    {
        var (remote, synced, local, newLocal) = Pass("synced:Docs/a.txt;remote:docs/y.txt", "docs/x.txt");

        var clashes = NewRemoteCaseRules.Decide(remote, synced, local, newLocal, true, new HashSet<string>(StringComparer.Ordinal));

        Assert.Equal(["docs (Case Conflict)/x.txt", "docs (Case Conflict)/y.txt"], clashes.Select(c => c.Target));
        Assert.True(clashes[1].NamesInUse.Contains("DOCS (CASE CONFLICT)"));
        Assert.False(clashes[1].NamesInUse.Contains("docs (Case Conflict 2)"));
    }

    [Fact]
    public void A_file_of_the_pass_never_follows_its_folder_into_a_reused_one_where_a_file_here_is_on_its_way()
    {
        // An earlier pass made "docs (Case Conflict)"; a new local file there is named as this pass's second file's folder.
        var (remote, synced, local, newLocal) = Pass("synced:Docs/keep.txt;synced:docs (Case Conflict)/old.txt;new:docs (Case Conflict)/sub;remote:docs/sub/c.txt", "docs/a.txt");

        var clashes = NewRemoteCaseRules.Decide(remote, synced, local, newLocal, true, new HashSet<string>(StringComparer.Ordinal));

        Assert.Equal(["docs (Case Conflict)/a.txt", "docs (Case Conflict 2)/sub/c.txt"], clashes.Select(c => c.Target));
    }

    [Fact]
    public void A_new_remote_folder_of_ten_thousand_and_one_files_clashing_with_one_here_is_one_renamed_folder()
    {
        // One "(Case Conflict N)" folder a file made N reach the name search's bound: every pass failed before its plan.
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        for (var i = 0; i < 10_001; i++)
        {
            var p = $"docs/f{i:D5}.txt";
            remote[p] = new RemoteEntry(p, FileKind.File, 9, false, 1, Hash, 0);
        }

        var synced = new Dictionary<string, BaseStat>(StringComparer.Ordinal) { ["Docs/a.txt"] = new BaseStat(FileKind.File, 1, 100, 3) };

        var clashes = NewRemoteCaseRules.Decide(remote, synced, new LocalSnapshot(), [], true, new HashSet<string>(StringComparer.Ordinal));

        Assert.Equal(10_001, clashes.Count);
        Assert.Equal(["docs (Case Conflict)"], clashes.Select(c => c.Target![..c.Target!.IndexOf('/')]).Distinct());
    }

    [Fact]
    public async Task Two_renames_of_one_pass_retried_past_names_the_server_holds_never_pick_names_that_differ_only_in_case()
    {
        using var dir = new TempFolder();
        var server = new FakeServer();
        using var linux = new TestClient(dir, "linux", server);
        linux.Write("README.md", "the readme");
        linux.Write("Readme (Case Conflict).md", "older 1");
        linux.Write("readme (Case Conflict 2).md", "older 2");
        linux.Write("staging1.txt", "one");
        linux.Write("staging2.txt", "two");
        await linux.SyncAsync();
        using var mac = new TestClient(dir, "mac", server, caseProbe: _ => true);
        mac.Write(".dropboxignore", "Readme (Case Conflict).md\nreadme (Case Conflict 2).md\n"); // on the server, not in this pass's view
        await mac.SyncAsync();
        await CommitAsAnotherDeviceAsync(server, "Readme.md", "staging1.txt");
        await CommitAsAnotherDeviceAsync(server, "readme.md", "staging2.txt");

        var pass = await mac.SyncAsync();

        Assert.Equal(0, pass.Errors);
        var renamed = new[] { "Readme.md", "readme.md" }.Select(p => server.Current(p)).ToArray();
        Assert.All(renamed, e => Assert.True(e is null or { Deleted: true }, "a clashing newcomer was not renamed: " + string.Join(" | ", pass.Notes)));
        var live = new[] { "Readme", "readme" }.SelectMany(stem => Enumerable.Range(1, 8).Select(n => $"{stem} (Case Conflict{(n == 1 ? "" : " " + n)}).md"))
            .Where(p => server.Current(p) is not null).ToArray();
        Assert.Equal(4, live.Length); // the two older ones and the two renamed
        Assert.Equal(live.Length, live.Select(SyncPaths.CaseFoldKey).Distinct().Count());
    }

    [Fact]
    public async Task Files_of_one_clashing_folder_arriving_over_two_passes_go_to_one_renamed_folder()
    {
        using var dir = new TempFolder();
        var server = new FakeServer();
        using var linux = new TestClient(dir, "linux", server);
        linux.Write("docs/keep.txt", "here");
        linux.Write("staging1.txt", "one");
        linux.Write("staging2.txt", "two");
        await linux.SyncAsync();
        using var mac = new TestClient(dir, "mac", server, caseProbe: _ => true);
        await mac.SyncAsync();

        await CommitAsAnotherDeviceAsync(server, "Docs/a.txt", "staging1.txt");
        Assert.Equal(0, (await mac.SyncAsync()).Errors);
        Assert.Equal(0, (await mac.SyncAsync()).Errors); // downloads the renamed one
        await CommitAsAnotherDeviceAsync(server, "Docs/b.txt", "staging2.txt");
        var pass = await mac.SyncAsync();

        var where = Live(server, "Docs (Case Conflict)/a.txt", "Docs (Case Conflict)/b.txt", "Docs (Case Conflict 2)/b.txt", "Docs/b.txt");
        Assert.True(where == "Docs (Case Conflict)/a.txt,Docs (Case Conflict)/b.txt", "live: " + where + " | " + string.Join(" | ", pass.Notes));
    }

    [Fact]
    public async Task The_executor_never_follows_the_folder_onto_a_name_the_rule_found_taken_in_case()
    {
        using var dir = new TempFolder();
        var server = new FakeServer();
        using var linux = new TestClient(dir, "linux", server);
        linux.Write("docs/keep.txt", "here");
        linux.Write("staging1.txt", "one");
        linux.Write("staging2.txt", "two");
        await linux.SyncAsync();
        using var mac = new TestClient(dir, "mac", server, caseProbe: _ => true);
        await mac.SyncAsync();

        await CommitAsAnotherDeviceAsync(server, "Docs/B.txt", "staging1.txt");
        await CommitAsAnotherDeviceAsync(server, "Docs/b.txt", "staging2.txt");
        var pass = await mac.SyncAsync();
        var after1 = Live(server, "Docs (Case Conflict)/B.txt", "Docs (Case Conflict)/b.txt", "Docs (Case Conflict 2)/b.txt");
        var pass2 = await mac.SyncAsync();
        var pass3 = await mac.SyncAsync();
        var after3 = Live(server, "Docs (Case Conflict)/B.txt", "Docs (Case Conflict)/b.txt", "Docs (Case Conflict 2)/b.txt", "Docs (Case Conflict)/b (Case Conflict).txt");
        Assert.True(after1 == "Docs (Case Conflict)/B.txt,Docs (Case Conflict 2)/b.txt", "after pass 1: " + after1 + "; after pass 3: " + after3 + " | " + string.Join(" | ", pass.Notes.Concat(pass2.Notes).Concat(pass3.Notes)));
    }

    private static string Live(FakeServer server, params string[] candidates) => string.Join(",", candidates.Where(p => server.Current(p) is { Deleted: false }));

    private static async Task CommitAsAnotherDeviceAsync(FakeServer server, string path, string contentOf)
    {
        var staged = server.Current(contentOf)!;
        var commit = new Dropbox.Shared.Protos.Metadata.CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await server.CommitFileAsync(commit, CancellationToken.None);
    }

    [Fact]
    public void The_names_in_use_outlive_the_new_downloads_taken_from_the_remote_view()
    {
        // The engine takes the plain new downloads out of the remote view after the rule; a retry in the executor must
        // still never pick one of their names.
        var (remote, synced, local, newLocal) = Pass("synced:Readme.txt;remote:other/README (Case Conflict 2).txt", "README.txt");
        remote["README (Case Conflict 2).txt"] = new RemoteEntry("README (Case Conflict 2).txt", FileKind.File, 4, false, 1, Hash, 0);

        var clash = Assert.Single(NewRemoteCaseRules.Decide(remote, synced, local, newLocal, true, new HashSet<string>(StringComparer.Ordinal)));
        PlannerFastPaths.TakeNewDownloads(remote, synced, local, new HashSet<string>(StringComparer.Ordinal), [clash]);

        Assert.DoesNotContain("README (Case Conflict 2).txt", remote.Keys);
        Assert.True(clash.NamesInUse.Contains("README (Case Conflict 2).txt"));
        Assert.Contains("README.txt", remote.Keys); // the clashing file is never taken as a new download
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_planner_withholds_a_clashing_new_remote_file_and_plans_the_rule_s_answer(bool withSynced)
    {
        var (remote, synced, local, newLocal) = Pass("synced:Readme.txt", "README.txt");
        remote["Plain.txt"] = new RemoteEntry("Plain.txt", FileKind.File, 5, false, 1, Hash, 0);
        var clashes = NewRemoteCaseRules.Decide(remote, synced, local, newLocal, true, new HashSet<string>(StringComparer.Ordinal));

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = local,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = remote,
            Synced = withSynced ? synced : null,
            NewRemoteCaseClashes = clashes,
        });

        var rename = Assert.Single(plan, a => a.Kind == SyncActionKind.CaseRenameRemote);
        Assert.Equal(("README.txt", "README (Case Conflict).txt"), (rename.Path, rename.ToPath));
        Assert.Same(clashes[0], rename.CaseClash);
        Assert.Contains(plan, a => a.Kind == SyncActionKind.Skip && a.Path == "README.txt" && a.Reason == SyncPlanner.WithheldReason);
        Assert.DoesNotContain(plan, a => a.Kind is SyncActionKind.Download or SyncActionKind.DownloadNew && a.Path == "README.txt");
        Assert.Contains(plan, a => a.Kind is SyncActionKind.Download or SyncActionKind.DownloadNew && a.Path == "Plain.txt");
    }

    [Fact]
    public void The_planner_holds_a_clashing_new_remote_file_the_rule_holds()
    {
        var (remote, synced, local, newLocal) = Pass("synced-deleted:Readme.txt", "README.txt");
        var clashes = NewRemoteCaseRules.Decide(remote, synced, local, newLocal, true, new HashSet<string>(StringComparer.Ordinal));

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = local,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = remote,
            NewRemoteCaseClashes = clashes,
        });

        var hold = Assert.Single(plan, a => a.Kind == SyncActionKind.CaseHoldRemote);
        Assert.Equal(NewRemoteCaseOutcome.TakenNextPass, hold.CaseClash!.Outcome);
        Assert.DoesNotContain(plan, a => a.Kind is SyncActionKind.CaseRenameRemote or SyncActionKind.Download or SyncActionKind.DownloadNew);
    }

    [Fact]
    public void A_remote_move_onto_a_clashing_name_is_not_applied_here()
    {
        // Moved on the server from a synced path to a name that clashes with another here: withheld, never moved here.
        var (remote, synced, local, newLocal) = Pass("synced:Readme.txt;synced:old.txt", "README.txt");
        remote["README.txt"] = new RemoteEntry("README.txt", FileKind.File, 9, false, 1, Hash, 0) { MovedFrom = "old.txt" };
        remote["old.txt"] = new RemoteEntry("old.txt", FileKind.File, 9, true, 0, [], 0) { MovedTo = "README.txt" };
        local.Entries["old.txt"] = new LocalEntry("old.txt", FileKind.File, 1, 100, SettlesIn: null);
        var clashes = NewRemoteCaseRules.Decide(remote, synced, local, newLocal, true, new HashSet<string>(StringComparer.Ordinal));

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["old.txt"] = new("old.txt", FileKind.File, 1, 100, 3, Hash) },
            Local = local,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = remote,
            NewRemoteCaseClashes = clashes,
        });

        Assert.Single(plan, a => a.Kind == SyncActionKind.CaseRenameRemote && a.Path == "README.txt");
        Assert.DoesNotContain(plan, a => a.Kind == SyncActionKind.MoveLocal);
    }

    private static (Dictionary<string, RemoteEntry> Remote, Dictionary<string, BaseStat> Synced, LocalSnapshot Local, List<string> NewLocal) Pass(string here, string newRemote)
    {
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal) { [newRemote] = new(newRemote, FileKind.File, 9, false, 1, Hash, 0) };
        var synced = new Dictionary<string, BaseStat>(StringComparer.Ordinal);
        var local = new LocalSnapshot();
        var newLocal = new List<string>();
        foreach (var item in here.Split(';'))
        {
            var (what, path) = (item[..item.IndexOf(':')], item[(item.IndexOf(':') + 1)..]);
            switch (what)
            {
                case "synced":
                    synced[path] = new BaseStat(FileKind.File, 1, 100, 3);
                    break;
                case "synced-deleted":
                    synced[path] = new BaseStat(FileKind.File, 1, 100, 3);
                    remote[path] = new RemoteEntry(path, FileKind.File, 8, true, 0, [], 0);
                    break;
                case "scanned":
                    local.Entries[path] = new LocalEntry(path, FileKind.File, 1, 100, SettlesIn: null);
                    break;
                case "withheld":
                    local.Withheld.Add(path);
                    break;
                case "new":
                    newLocal.Add(path);
                    break;
                case "remote":
                    remote[path] = new RemoteEntry(path, FileKind.File, 4, false, 1, Hash, 0);
                    break;
            }
        }

        return (remote, synced, local, newLocal);
    }
}
