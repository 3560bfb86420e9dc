using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A name that clashes in case is renamed to a (Case Conflict) name only once it is no longer being written.</summary>
public sealed class CaseConflictStabilityTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_clashing_file_written_after_the_scan_observed_it_settled_is_not_renamed_mid_write()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("notes.txt", "on the server");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("Notes.txt", "written");
        File.SetLastWriteTimeUtc(a.PathOf("Notes.txt"), DateTime.UtcNow.AddSeconds(-1));
        // The watcher saw the write a second ago, past the quiet period: the scan observes the file settled. The writer
        // goes on right after that observation (its read of the watcher's clock), before the case-clash rename.
        var (watched, clock) = WatchedSecondAgo("Notes.txt");
        clock.BeforeNextTimestamp(() => File.AppendAllText(a.PathOf("Notes.txt"), ", and more"));

        var pass = await new SyncEngine(a.Context.With(watched)).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.True(pass.Pending >= 1, "the clash written since the scan is not reported as pending");
        Assert.Equal("written, and more", a.Read("Notes.txt"));
        Assert.False(File.Exists(a.PathOf("Notes (Case Conflict).txt")), "renamed while being written: the scan's observation was used");

        File.SetLastWriteTimeUtc(a.PathOf("Notes.txt"), DateTime.UtcNow.AddHours(-2));
        var settled = await a.SyncAsync();

        Assert.Equal(0, settled.Errors + settled.Pending);
        Assert.Equal("written, and more", a.Read("Notes (Case Conflict).txt"));
        Assert.NotNull(_server.Current("Notes (Case Conflict).txt"));
    }

    [Fact]
    public async Task A_clashing_folder_whose_file_is_written_after_the_scan_observed_it_settled_is_not_renamed()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("docs/a.txt", "on the server");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("Docs/x.txt", "written");
        File.SetLastWriteTimeUtc(a.PathOf("Docs/x.txt"), DateTime.UtcNow.AddSeconds(-1));
        Directory.SetLastWriteTimeUtc(a.PathOf("Docs"), DateTime.UtcNow.AddHours(-2));
        var (watched, clock) = WatchedSecondAgo("Docs/x.txt");
        clock.BeforeNextTimestamp(() => File.AppendAllText(a.PathOf("Docs/x.txt"), ", and more"));

        var pass = await new SyncEngine(a.Context.With(watched)).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.True(pass.Pending >= 1, "the folder written in since the scan is not reported as pending");
        Assert.Equal("written, and more", a.Read("Docs/x.txt"));
        Assert.False(Directory.Exists(a.PathOf("Docs (Case Conflict)")), "renamed while a file in it was being written: the scan's observation was used");
    }

    [Fact]
    public async Task A_clashing_name_written_right_before_its_rename_waits_under_its_new_name()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("README.txt", "kept");
        File.SetLastWriteTimeUtc(a.PathOf("README.txt"), DateTime.UtcNow.AddHours(-2));
        a.Write("Readme.txt", "renamed");
        File.SetLastWriteTimeUtc(a.PathOf("Readme.txt"), DateTime.UtcNow.AddSeconds(-1));
        // Observed settled with the facts and again right before the rename (quiet for a second by the watcher), and
        // written right after that second observation (its read of the watcher's clock): the renamed name's entry must
        // not pass its fresh mtime off as settled.
        var (watched, clock) = WatchedSecondAgo("Readme.txt");
        clock.BeforeNextTimestamp(() => clock.BeforeNextTimestamp(() => File.AppendAllText(a.PathOf("Readme.txt"), ", and more")));

        var pass = await new SyncEngine(a.Context.With(watched)).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.Equal("renamed, and more", a.Read("Readme (Case Conflict).txt"));
        Assert.Null(_server.Current("Readme (Case Conflict).txt"));
        Assert.True(pass.Pending >= 1, "the renamed name still being written is not reported as pending");
        Assert.NotNull(_server.Current("README.txt"));

        File.SetLastWriteTimeUtc(a.PathOf("Readme (Case Conflict).txt"), DateTime.UtcNow.AddHours(-2));
        var settled = await a.SyncAsync();

        Assert.Equal(0, settled.Errors + settled.Pending);
        Assert.NotNull(_server.Current("Readme (Case Conflict).txt"));
    }

    [Fact]
    public async Task A_clashing_file_written_after_its_facts_were_read_is_not_renamed()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("README.txt", "kept");
        File.SetLastWriteTimeUtc(a.PathOf("README.txt"), DateTime.UtcNow.AddHours(-2));
        a.Write("Readme.txt", "renamed");
        File.SetLastWriteTimeUtc(a.PathOf("Readme.txt"), DateTime.UtcNow.AddSeconds(-1));
        // All clashes' facts are read before any is renamed: the writer goes on right after this one's facts were read
        // (its stat, then its read of the watcher's clock); the look right before the rename sees the write.
        var (watched, clock) = WatchedSecondAgo("Readme.txt");
        clock.BeforeNextTimestamp(() => File.AppendAllText(a.PathOf("Readme.txt"), ", and more"));

        var pass = await new SyncEngine(a.Context.With(watched)).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.False(File.Exists(a.PathOf("Readme (Case Conflict).txt")), "renamed though written since its facts were read");
        Assert.Equal("renamed, and more", a.Read("Readme.txt"));
        Assert.True(pass.Pending >= 1, "the clash written since its facts is not reported as pending");
        Assert.Null(_server.Current("Readme.txt"));

        File.SetLastWriteTimeUtc(a.PathOf("Readme.txt"), DateTime.UtcNow.AddHours(-2));
        var settled = await a.SyncAsync();

        Assert.Equal(0, settled.Errors + settled.Pending);
        Assert.Equal("renamed, and more", a.Read("Readme (Case Conflict).txt"));
        Assert.NotNull(_server.Current("Readme (Case Conflict).txt"));
    }

    [Fact]
    public async Task A_case_clashing_file_still_being_written_is_left_withheld_and_renamed_once_it_settles()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("notes.txt", "synced first");
        File.SetLastWriteTimeUtc(a.PathOf("notes.txt"), DateTime.UtcNow.AddHours(-2));
        await a.SyncAsync();
        a.Write("Notes.txt", "being written");

        // Renamed now, the writer's next bytes would make a new Notes.txt: its content split across two files.
        var writing = await a.SyncAsync();

        Assert.Equal(0, writing.Errors);
        Assert.True(writing.Pending >= 1, "the clash still being written is not reported as pending");
        Assert.Equal("being written", a.Read("Notes.txt"));
        Assert.False(File.Exists(a.PathOf("Notes (Case Conflict).txt")), "renamed while still being written");
        Assert.Null(_server.Current("Notes.txt"));

        File.AppendAllText(a.PathOf("Notes.txt"), ", and finished");
        File.SetLastWriteTimeUtc(a.PathOf("Notes.txt"), DateTime.UtcNow.AddHours(-2));
        var settled = await a.SyncAsync();

        Assert.Equal(0, settled.Errors + settled.Pending);
        Assert.Equal("being written, and finished", a.Read("Notes (Case Conflict).txt"));
        Assert.NotNull(_server.Current("Notes (Case Conflict).txt"));
        Assert.Equal("synced first", a.Read("notes.txt"));
    }

    [Fact]
    public async Task A_new_case_clashing_folder_still_being_written_is_left_withheld_and_renamed_once_everything_under_it_settles()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        Directory.CreateDirectory(b.PathOf("Docs"));
        b.Write("Docs/one.txt", "copied");
        b.Write("Docs/two.txt", "being copied");
        var old = DateTime.UtcNow.AddHours(-2);
        File.SetLastWriteTimeUtc(b.PathOf("Docs/one.txt"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);

        // A clone or unzip into 'Docs' is under way: renamed now, the rest would land in a recreated 'Docs'.
        var writing = await b.SyncAsync();

        Assert.Equal(0, writing.Errors);
        Assert.True(writing.Pending >= 1, "the folder still being written is not reported as pending");
        Assert.True(Directory.Exists(b.PathOf("Docs")), "renamed while still being written");
        Assert.False(Directory.Exists(b.PathOf("Docs (Case Conflict)")));
        Assert.Null(_server.Current("Docs/one.txt"));

        File.SetLastWriteTimeUtc(b.PathOf("Docs/two.txt"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal("copied", b.Read("Docs (Case Conflict)/one.txt"));
        Assert.NotNull(_server.Current("Docs (Case Conflict)/two.txt"));
        Assert.Equal("synced first", b.Read("docs/a.txt"));
        Assert.Null(_server.Current("Docs/one.txt"));
    }

    [Fact]
    public async Task A_new_case_clashing_folder_whose_subfolder_is_still_being_written_is_not_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        b.Write("Docs/sub/x.txt", "unzipped");
        var old = DateTime.UtcNow.AddHours(-2);
        File.SetLastWriteTimeUtc(b.PathOf("Docs/sub/x.txt"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);
        // An unzip is under way deep inside: only 'Docs/sub' itself moved (an entry just added to it); 'Docs' is quiet.
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs/sub"), DateTime.UtcNow);

        var writing = await b.SyncAsync();

        Assert.Equal(0, writing.Errors);
        Assert.True(writing.Pending >= 1, "the folder still being written under a subfolder is not reported as pending");
        Assert.Equal("unzipped", b.Read("Docs/sub/x.txt"));
        Assert.False(Directory.Exists(b.PathOf("Docs (Case Conflict)")), "renamed while a subfolder was being written: the tree would be split");

        Directory.SetLastWriteTimeUtc(b.PathOf("Docs/sub"), old);
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal("unzipped", b.Read("Docs (Case Conflict)/sub/x.txt"));
        Assert.NotNull(_server.Current("Docs (Case Conflict)/sub/x.txt"));
        Assert.Equal("synced first", b.Read("docs/a.txt"));
    }

    [Fact]
    public async Task A_clashing_name_waiting_to_be_renamed_is_one_case_conflict_note_even_with_a_remote_change_at_it()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("README.txt", "synced");
        File.SetLastWriteTimeUtc(a.PathOf("README.txt"), DateTime.UtcNow.AddHours(-2));
        await a.SyncAsync();
        a.Write("Readme.txt", "being written");
        // Another client (a folder that tells case apart) committed its own 'Readme.txt' meanwhile.
        var staged = _server.Current("README.txt")!;
        var commit = new CommitFileRequest { Path = "Readme.txt", Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.True(pass.Pending >= 1, "the clash still being written is not reported as pending");
        Assert.Equal(1, pass.Skipped); // the remote change at the withheld name, reported as skipped (the wait is not a skip)
        Assert.Equal(["case conflict: 'Readme.txt' differs only in case from another name and is still being written; it is renamed once it settles"],
            pass.Notes.Where(n => n.StartsWith("case conflict: 'Readme.txt'", StringComparison.Ordinal)));
        Assert.Equal("being written", a.Read("Readme.txt"));
    }

    [Fact]
    public async Task A_folder_that_lost_a_case_clash_in_the_scan_is_not_renamed_while_a_file_in_it_is_written()
    {
        var old = DateTime.UtcNow.AddHours(-2);
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("docs/a.txt", "synced first");
        File.SetLastWriteTimeUtc(a.PathOf("docs/a.txt"), old);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        // 'Docs' loses the clash to the synced 'docs' in the scan, which then never looks inside it. A file in it is
        // still growing; appends leave the folder's own mtime as it was.
        a.Write("Docs/big.bin", "being written");
        Directory.SetLastWriteTimeUtc(a.PathOf("Docs"), old);

        var writing = await a.SyncAsync();

        Assert.Equal(0, writing.Errors);
        Assert.True(writing.Pending >= 1, "the folder written in is not reported as pending");
        Assert.Equal("being written", a.Read("Docs/big.bin"));
        Assert.False(Directory.Exists(a.PathOf("Docs (Case Conflict)")), "renamed while a file in it was being written: the scan never looked inside");

        File.SetLastWriteTimeUtc(a.PathOf("Docs/big.bin"), old);
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        Assert.Equal("being written", a.Read("Docs (Case Conflict)/big.bin"));
        Assert.NotNull(_server.Current("Docs (Case Conflict)/big.bin"));
        Assert.Equal("synced first", a.Read("docs/a.txt"));
    }

    [Fact]
    public async Task A_clashing_folder_is_not_renamed_while_an_ignored_download_in_it_grows_after_the_scan()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        var old = DateTime.UtcNow.AddHours(-2);
        b.Write("Docs/big.iso.part", "downloading");
        File.SetLastWriteTimeUtc(b.PathOf("Docs/big.iso.part"), old);
        b.Write("Docs/one.txt", "copied");
        File.SetLastWriteTimeUtc(b.PathOf("Docs/one.txt"), DateTime.UtcNow.AddSeconds(-1));
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);
        // The scan observes 'Docs/one.txt' settled (the watcher saw it a second ago, past the quiet period) and never
        // looks at the browser's '.part' file (ignored); the browser writes on right at that observation.
        var (watched, clock) = WatchedSecondAgo("Docs/one.txt");
        clock.BeforeNextTimestamp(() => File.AppendAllText(b.PathOf("Docs/big.iso.part"), ", more"));

        var pass = await new SyncEngine(b.Context.With(watched)).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.True(pass.Pending >= 1, "the folder with a download under way is not reported as pending");
        Assert.Equal("downloading, more", b.Read("Docs/big.iso.part"));
        Assert.False(Directory.Exists(b.PathOf("Docs (Case Conflict)")), "renamed while an ignored file in it was being written");
    }

    [Fact]
    public async Task A_clashing_folder_is_not_renamed_while_a_file_its_dropboxignore_matches_is_written()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        var old = DateTime.UtcNow.AddHours(-2);
        b.Write("Docs/.dropboxignore", "*.log");
        b.Write("Docs/one.txt", "copied");
        b.Write("Docs/build.log", "a build is writing this");
        File.SetLastWriteTimeUtc(b.PathOf("Docs/.dropboxignore"), old);
        File.SetLastWriteTimeUtc(b.PathOf("Docs/one.txt"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.True(pass.Pending >= 1, "the folder with an ignored file being written is not reported as pending");
        Assert.False(Directory.Exists(b.PathOf("Docs (Case Conflict)")), "renamed while a file its .dropboxignore matches was being written");

        File.SetLastWriteTimeUtc(b.PathOf("Docs/build.log"), old);
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal("a build is writing this", b.Read("Docs (Case Conflict)/build.log"));
        Assert.NotNull(_server.Current("Docs (Case Conflict)/one.txt"));
        Assert.Null(_server.Current("Docs (Case Conflict)/build.log"));
    }

    [Fact]
    public async Task A_clashing_folder_still_being_written_is_reported_as_a_folder()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        b.Write("Docs/one.txt", "being copied");

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Equal(["case conflict: folder 'Docs' differs only in case from another name and is still being written; it is renamed once it settles"],
            pass.Notes.Where(n => n.StartsWith("case conflict:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_clashing_folder_too_large_to_look_at_whole_waits_and_is_reported_so()
    {
        var old = DateTime.UtcNow.AddHours(-2);
        var clock = new ManualClock(); // the backoff's: the walk is tried again only once its wait is over
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) }, time: clock);
        a.Write("docs/a.txt", "synced first");
        File.SetLastWriteTimeUtc(a.PathOf("docs/a.txt"), old);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        foreach (var name in new[] { "Docs/1.txt", "Docs/2.txt", "Docs/3.txt" })
        {
            a.Write(name, name);
            File.SetLastWriteTimeUtc(a.PathOf(name), old);
        }

        Directory.SetLastWriteTimeUtc(a.PathOf("Docs"), old);

        // Everything in it is settled, but the walk gives up past two entries: not renamed on a guess.
        var capped = await new SyncEngine(a.Context) { FolderWalkMaxEntries = 2 }.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, capped.Errors + capped.Skipped);
        Assert.True(capped.Pending >= 1, "the folder not looked at whole is not reported as pending");
        Assert.False(Directory.Exists(a.PathOf("Docs (Case Conflict)")), "renamed although the walk could not look at everything in it");
        Assert.Equal(["case conflict: folder 'Docs' differs only in case from another name, and whether anything in it is still being written could not be told (too many entries, too slow to read, or unreadable); it is renamed once it can be, or rename it by hand"],
            capped.Notes.Where(n => n.StartsWith("case conflict:", StringComparison.Ordinal)));

        clock.Advance(UncheckedFolderBackoff.First);
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        Assert.NotNull(_server.Current("Docs (Case Conflict)/3.txt"));
    }

    [Fact]
    public async Task A_clashing_folder_whose_writer_stalled_past_the_watchers_quiet_period_is_not_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        // An unzip filling 'Docs' stalls for 300 ms (a slow disk): the watcher saw its last file then, past the quiet
        // period (250 ms), which settles a file but must not settle a whole tree still being filled.
        b.Write("Docs/f.txt", "unzipped so far");
        File.SetLastWriteTimeUtc(b.PathOf("Docs/f.txt"), DateTime.UtcNow.AddMilliseconds(-300));
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), DateTime.UtcNow.AddHours(-2));
        var clock = new ManualClock();
        var watched = new WatchedChanges(clock);
        watched.Saw("Docs/f.txt");
        clock.Advance(TimeSpan.FromMilliseconds(300));

        var pass = await new SyncEngine(b.Context.With(watched)).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.True(pass.Pending >= 1, "the folder still being filled is not reported as pending");
        Assert.False(Directory.Exists(b.PathOf("Docs (Case Conflict)")), "renamed 300 ms after the last write the watcher saw: the unzip's next file makes a new 'Docs'");
        Assert.Equal("unzipped so far", b.Read("Docs/f.txt"));
    }

    [Fact]
    public async Task A_clashing_folder_in_which_a_file_is_made_after_its_walk_is_not_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        var old = DateTime.UtcNow.AddHours(-2);
        b.Write("Docs/sub/b.txt", "copied");
        File.SetLastWriteTimeUtc(b.PathOf("Docs/sub/b.txt"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs/sub"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);
        // The walk found everything settled; the copy goes on right after it, in a subfolder it had already read.
        var engine = new SyncEngine(b.Context) { AfterFolderWalk = _ => File.WriteAllText(b.PathOf("Docs/sub/new.txt"), "copied on") };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.True(pass.Pending >= 1, "the folder written in after its walk is not reported as pending");
        Assert.False(Directory.Exists(b.PathOf("Docs (Case Conflict)")), "renamed although a folder in it changed since the walk read it");
        Assert.Equal("copied on", b.Read("Docs/sub/new.txt"));
    }

    [Fact]
    public async Task The_walks_of_all_clashing_folders_of_a_pass_share_one_bound()
    {
        var clock = new ManualClock(); // every mtime far ahead of it: settled
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) }, time: clock);
        a.Write("docs/a.txt", "synced first");
        a.Write("notes/a.txt", "synced first");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        foreach (var name in new[] { "Docs/1.txt", "Docs/2.txt", "Notes/1.txt", "Notes/2.txt" })
        {
            a.Write(name, name);
        }

        // Each folder alone is within the bound of three entries; both together are not.
        var pass = await new SyncEngine(a.Context) { FolderWalkMaxEntries = 3 }.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.Single(new[] { "Docs (Case Conflict)", "Notes (Case Conflict)" }, n => Directory.Exists(a.PathOf(n)));
        Assert.Single(pass.Notes, n => n.Contains("could not be told", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_clashing_folder_too_large_to_look_at_whole_is_looked_at_again_ever_later()
    {
        var clock = new ManualClock();
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) }, time: clock);
        a.Write("docs/a.txt", "synced first");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        foreach (var name in new[] { "Docs/1.txt", "Docs/2.txt", "Docs/3.txt" })
        {
            a.Write(name, name);
        }

        var engine = new SyncEngine(a.Context) { FolderWalkMaxEntries = 2 };
        var rechecks = new List<TimeSpan?>();
        foreach (var wait in new[] { 1, 2, 4, 0 })
        {
            rechecks.Add((await engine.RunPassAsync(CancellationToken.None)).RecheckAfter);
            clock.Advance(TimeSpan.FromMinutes(wait)); // to the end of the wait the pass reported
        }

        // Each walk reads up to its bound and finds the same: not every minute forever, but ever less often.
        Assert.Equal([TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(8)], rechecks);

        // A pass woken by something else before the wait ends does not walk it again: it waits for the rest.
        clock.Advance(TimeSpan.FromMinutes(1));
        var early = await engine.RunPassAsync(CancellationToken.None);
        Assert.Equal(TimeSpan.FromMinutes(7), early.RecheckAfter);
        Assert.False(Directory.Exists(a.PathOf("Docs (Case Conflict)")));
    }

    [Fact]
    public async Task A_clashing_folder_with_an_unreadable_folder_in_it_waits_the_folder_settle_age_each_time_not_an_ever_longer_backoff()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the unreadable folder is made by its bytes with mkdir(2)
        }

        var clock = new ManualClock(); // every mtime far ahead of it: settled
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) }, time: clock);
        a.Write("docs/a.txt", "synced first");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        a.Write("Docs/1.txt", "kept");
        // A folder whose name is not UTF-8 (unpacked from an old archive): listed, but not opened by the name read back, so
        // the walk meets a read error there (as it would an unreadable folder, which root cannot be given in a test).
        var unreadable = System.Text.Encoding.UTF8.GetBytes(a.PathOf("Docs") + "/latin1-\0").ToList();
        unreadable.Insert(unreadable.Count - 1, 0xE9);
        Assert.Equal(0, Mkdir([.. unreadable], Convert.ToUInt32("755", 8)));
        try
        {
            var engine = new SyncEngine(a.Context);
            var rechecks = new List<TimeSpan?>();
            for (var pass = 0; pass < 6; pass++)
            {
                var waiting = await engine.RunPassAsync(CancellationToken.None);
                Assert.Equal(0, waiting.Errors);
                Assert.Contains(waiting.Notes, n => n.StartsWith("case conflict: folder 'Docs'", StringComparison.Ordinal) && n.Contains("could not be told", StringComparison.Ordinal));
                rechecks.Add(waiting.RecheckAfter);
                clock.Advance(waiting.RecheckAfter ?? TimeSpan.Zero);
            }

            // A read error is not the walk's bound: looked at again as a folder being written, three times; one that stays
            // then backs off as an over-bound walk does (else a walk and a pass every 30 s, forever).
            var settle = Stability.MinFolderSettleAge;
            Assert.Equal([settle, settle, settle, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(4)], rechecks);
            Assert.False(Directory.Exists(a.PathOf("Docs (Case Conflict)")), "renamed although the walk could not look at everything in it");
        }
        finally
        {
            Assert.Equal(0, Rmdir([.. unreadable]));
        }

        // Readable again: renamed at the next look, not after a backoff grown meanwhile.
        var renamed = await new SyncEngine(a.Context).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, renamed.Errors);
        Assert.Equal("kept", a.Read("Docs (Case Conflict)/1.txt"));
    }

    /// <summary>A watcher (on a manual clock) that saw <paramref name="path"/> written one second ago.</summary>
    private static (WatchedChanges Watched, ManualClock Clock) WatchedSecondAgo(string path)
    {
        var clock = new ManualClock();
        var watched = new WatchedChanges(clock);
        watched.Saw(path);
        clock.Advance(TimeSpan.FromSeconds(1));
        return (watched, clock);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkdir")]
    private static extern int Mkdir(byte[] path, uint mode);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rmdir")]
    private static extern int Rmdir(byte[] path);
}
