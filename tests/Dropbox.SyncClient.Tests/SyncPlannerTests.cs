using Dropbox.Shared.Chunks;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class SyncPlannerTests
{
    private static readonly byte[] H1 = [1];
    private static readonly byte[] H2 = [2];
    private static readonly byte[] H3 = [3];

    // Local: "-" absent, "same" as base, "edit" changed content (H2), "touch" mtime only.
    // Remote: "-" no change since cursor, "same" change at base version, "edit" new version (H3),
    //         "edit2" new version with the local edit's content (H2), "del" deleted.
    [Theory]
    [InlineData("same", true, "-", null)]
    [InlineData("touch", true, "-", "Touch")]
    [InlineData("edit", true, "-", "Upload")]
    [InlineData("edit", false, "-", "Upload")]
    [InlineData("-", true, "-", "DeleteRemote")]
    [InlineData("same", true, "same", null)]
    [InlineData("same", true, "edit", "Download")]
    [InlineData("-", false, "edit", "Download")]
    [InlineData("same", true, "del", "DeleteLocal")]
    [InlineData("-", true, "del", "Forget")]
    [InlineData("-", true, "edit", "Download")]
    [InlineData("edit", true, "edit", "Conflict")]
    [InlineData("edit", false, "edit", "Conflict")]
    [InlineData("edit", true, "edit2", "Record")]
    [InlineData("edit", true, "del", "Upload")]
    [InlineData("-", false, "del", null)]
    [InlineData("edit", false, "del", "Upload")]
    public void Three_way_decisions(string local, bool hasBase, string remote, string? expected)
    {
        var input = Input(local, hasBase, remote);

        var plan = SyncPlanner.Plan(input);

        if (expected is null)
        {
            Assert.Empty(plan);
        }
        else
        {
            Assert.Equal(Enum.Parse<SyncActionKind>(expected), Assert.Single(plan).Kind);
        }
    }

    // A changed file that could not be read: whatever the remote side did (nothing, the synced version again, an edit, a
    // delete) and whether it was synced, it waits, left alone on both sides, with the remote change it holds back.
    [Theory]
    [InlineData(true, "-")]
    [InlineData(true, "same")]
    [InlineData(true, "edit")]
    [InlineData(true, "del")]
    [InlineData(false, "-")]
    [InlineData(false, "edit")]
    public void A_changed_file_that_could_not_be_read_waits_whatever_changed_remotely(bool hasBase, string remote)
    {
        var input = Input("edit", hasBase, remote);
        var recheck = TimeSpan.FromMinutes(2);
        input = input with
        {
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Unreadable = new Dictionary<string, UnreadableFile> { ["f"] = new("Access to the path is denied.", recheck) },
        };

        var wait = Assert.Single(SyncPlanner.Plan(input));

        Assert.Equal(SyncActionKind.Wait, wait.Kind);
        Assert.Equal(SyncPlanner.UnreadableReason, wait.Reason);
        Assert.Equal("Access to the path is denied.", wait.Unreadable);
        Assert.Equal(recheck, wait.SettlesIn);
        Assert.Null(wait.Local); // a pass that waits for its young files never waits for this one
        Assert.Same(input.Remote.GetValueOrDefault("f"), wait.Remote);
    }

    // A plain new remote file (never synced, nothing here, not moved, ignored, withheld, refused, or under a path that
    // is a file on some side) is planned as DownloadNew, to come down in batches; anything else is decided as before.
    [Theory]
    [InlineData("plain.txt", true)]
    [InlineData("deep/plain2.txt", true)]
    [InlineData("deleted.txt", false)]
    [InlineData("moved-here.txt", false)]
    [InlineData("tracked.txt", false)]
    [InlineData("exists-here.txt", false)]
    [InlineData("build/out.bin", false)]
    [InlineData("withheld.txt", false)]
    [InlineData("refused.txt", false)]
    [InlineData("synced-file/x.txt", false)]
    [InlineData("remote-file/x.txt", false)]
    [InlineData("folder", false)]
    [InlineData("local-file/x.txt", false)] // its parent is a file here
    [InlineData("A.txt", true)] // only the case differs from the untracked "a.txt" here: the engine renames that one before planning
    public void Only_a_plain_new_remote_file_is_planned_as_a_new_download(string path, bool downloadNew)
    {
        var plan = SyncPlanner.Plan(NewDownloadInput(withSynced: true));

        Assert.Equal(downloadNew, plan.Any(a => a.Kind == SyncActionKind.DownloadNew && a.Path == path));
        Assert.Single(plan, a => a.Path == "plain.txt"); // never both a new download and another step
    }

    [Fact]
    public void New_downloads_come_in_listing_order_and_without_the_synced_tree_every_path_is_planned_one_by_one()
    {
        var batched = SyncPlanner.Plan(NewDownloadInput(withSynced: true));
        var oneByOne = SyncPlanner.Plan(NewDownloadInput(withSynced: false));

        Assert.Equal(["plain.txt", "deep/plain2.txt", "remote-file", "A.txt"], batched.Where(a => a.Kind == SyncActionKind.DownloadNew).Select(a => a.Path));
        Assert.Equal(5, batched.First(a => a.Kind == SyncActionKind.DownloadNew).Size);
        Assert.DoesNotContain(oneByOne, a => a.Kind == SyncActionKind.DownloadNew);
        Assert.Contains(oneByOne, a => a is { Kind: SyncActionKind.Download, Path: "plain.txt" });
    }

    [Fact]
    public void Taking_the_new_downloads_leaves_only_a_path_and_a_size_each_and_plan_leaves_its_input_as_given()
    {
        var input = NewDownloadInput(withSynced: true);
        var remote = new Dictionary<string, RemoteEntry>(input.Remote, StringComparer.Ordinal);

        var taken = PlannerFastPaths.TakeNewDownloads(remote, input.Synced!, input.Local, input.Refused);
        SyncPlanner.Plan(input);

        Assert.Equal(["plain.txt", "deep/plain2.txt", "remote-file", "A.txt"], taken.Select(a => a.Path));
        Assert.All(taken, a => Assert.Null(a.Remote));
        Assert.All(taken, a => Assert.Equal(5, a.Size));
        Assert.DoesNotContain(remote.Keys, taken.Select(a => a.Path).Contains);
        Assert.Equal(input.Remote.Count - taken.Count, remote.Count);
        Assert.Contains("plain.txt", input.Remote.Keys);
    }

    // A plain new local file (a file here, never synced, unknown remotely and not refused, of a size no tracked file has,
    // not under a file on some side, not only a case away from a live remote name, settled) is uploaded as new without
    // being planned one by one; anything else is the planner's to decide path by path.
    public static TheoryData<string, string, long, bool, bool> NewFileCases => new()
    {
        { "plain.txt", "file", 10, true, true },
        { "deep/plain.txt", "file", 10, true, true },
        { "plain.txt", "file", 10, false, false }, // perhaps still being written: planned, reported pending
        { "folder", "folder", 0, true, false },
        { "tracked.txt", "file", 10, true, false }, // has a merge base
        { "remote.txt", "file", 10, true, false }, // changed remotely: both sides hold it
        { "refused.txt", "file", 10, true, false }, // the server knows it, the client refused its state
        { "same-size.txt", "file", 123, true, false }, // could be where tracked.txt moved
        { "synced-file/x.txt", "file", 10, true, false }, // under a file in the synced tree
        { "remote-file/x.txt", "file", 10, true, false }, // under a file remotely
        { "REMOTE.TXT", "file", 10, true, false }, // only the case differs from a live remote name
        { "photos/b.jpg", "file", 10, true, false }, // under a folder only a case away from a remote one
        { "tracked-folder/c.txt", "file", 10, true, true }, // its folder is synced: no second spelling
        { "gone.txt", "file", 10, true, true }, // only a case away from a deleted remote name: no clash
        { "synced-folder/new.txt", "file", 10, true, true }, // in a synced folder (its own entry synced)
        { "synced-folder/deep/new.txt", "file", 10, true, true },
    };

    [Theory]
    [MemberData(nameof(NewFileCases))]
    public void Only_a_plain_new_local_file_is_taken_as_a_new_upload(string path, string kind, long size, bool settled, bool plainNew)
    {
        var taken = PlannerFastPaths.IsPlainNewFile(path, kind == "file" ? FileKind.File : FileKind.Folder, size, settled ? null : TimeSpan.FromSeconds(1), PlainNewFileTrees(withEchoes: false));

        Assert.Equal(plainNew, taken);
    }

    // The scan runs the new-file check while the remote view still holds the echoes of the client's own uploads (the
    // synced state of a synced path, coming back in the feed): PlannerFastPaths.DropEchoes drops them only after the scan.
    // That is sound because no new-file check reads the remote view at a synced path: the same view holding echoes of
    // synced files (tracked.txt, synced-file), of a synced folder and of files in synced folders gives the same answers.
    // (Their names do enter the case-folded remote names; only a new name a case away from a synced one reads them.)
    [Theory]
    [MemberData(nameof(NewFileCases))]
    public void Echoes_of_synced_paths_in_the_remote_view_change_no_new_file_answer(string path, string kind, long size, bool settled, bool plainNew)
    {
        var trees = PlainNewFileTrees(withEchoes: true);
        Assert.All(trees.Remote.Values.Where(r => trees.Synced.ContainsKey(r.Path)), r => Assert.True(PlannerFastPaths.IsEcho(r, trees.Synced[r.Path])));

        var taken = PlannerFastPaths.IsPlainNewFile(path, kind == "file" ? FileKind.File : FileKind.Folder, size, settled ? null : TimeSpan.FromSeconds(1), trees);

        Assert.Equal(plainNew, taken);
    }

    private static NewFileTrees PlainNewFileTrees(bool withEchoes)
    {
        static RemoteEntry File(string path, bool deleted = false) => new(path, FileKind.File, 7, deleted, 5, [], 0);
        var synced = new Dictionary<string, BaseStat>(StringComparer.Ordinal)
        {
            ["tracked.txt"] = new BaseStat(FileKind.File, 123, 1, 1),
            ["synced-file"] = new BaseStat(FileKind.File, 50, 1, 2),
            ["tracked-folder/old.txt"] = new BaseStat(FileKind.File, 51, 1, 3),
            ["synced-folder"] = new BaseStat(FileKind.Folder, 0, 0, 4),
            ["synced-folder/a.txt"] = new BaseStat(FileKind.File, 52, 1, 5),
        };
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            ["remote.txt"] = File("remote.txt"),
            ["remote-file"] = File("remote-file"),
            ["Photos/a.jpg"] = File("Photos/a.jpg"),
            ["Tracked-Folder/d.txt"] = File("Tracked-Folder/d.txt"),
            ["Gone.txt"] = File("Gone.txt", deleted: true),
        };
        if (withEchoes)
        {
            // Each synced path's synced state, as the feed brings back the client's own upload or folder create.
            foreach (var (path, stat) in synced)
            {
                remote[path] = new RemoteEntry(path, stat.Kind, stat.Version, false, stat.Size, [], 0);
            }
        }

        return new NewFileTrees(synced, remote, new HashSet<string>(["refused.txt"], StringComparer.Ordinal), SyncPlanner.RemoteFolds(remote));
    }

    // The remote view the planner takes: a change that only echoes the synced state of a path found here exactly as
    // synced (clean) is dropped; every other change stays, and so does an echo of a path not clean here.
    [Theory]
    [InlineData("echo", true, true)]
    [InlineData("echo", false, false)] // changed here (not clean): the planner compares all three sides
    [InlineData("other-version", true, false)]
    [InlineData("other-content", true, false)]
    [InlineData("deleted", true, false)]
    [InlineData("moved-away", true, false)]
    [InlineData("moved-here", true, false)]
    [InlineData("untracked", false, false)]
    public void Only_an_echo_of_a_clean_path_leaves_the_remote_view(string change, bool clean, bool dropped)
    {
        var synced = Enumerable.Repeat((byte)7, 32).ToArray();
        var stat = new BaseStat(FileKind.File, 5, 1, 9) { HashPrefix = BaseStat.PrefixOf(synced), Clean = clean };
        var echo = new RemoteEntry("f.txt", FileKind.File, 9, false, 5, synced, 0);
        var entry = change switch
        {
            "echo" or "untracked" => echo,
            "other-version" => echo with { Version = 10 },
            "other-content" => echo with { ContentHash = Enumerable.Repeat((byte)8, 32).ToArray() },
            "deleted" => echo with { Deleted = true },
            "moved-away" => echo with { MovedTo = "g.txt" },
            _ => echo with { MovedFrom = "e.txt" },
        };
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal) { ["f.txt"] = entry, ["other.txt"] = echo with { Path = "other.txt" } };
        var index = new Dictionary<string, BaseStat>(StringComparer.Ordinal);
        if (change != "untracked")
        {
            index["f.txt"] = stat;
        }

        var count = PlannerFastPaths.DropEchoes(remote, index);

        Assert.Equal(dropped ? 1 : 0, count);
        Assert.Equal(!dropped, remote.ContainsKey("f.txt"));
        Assert.True(remote.ContainsKey("other.txt")); // no synced side: never an echo
    }

    [Fact]
    public void The_new_downloads_and_case_waits_taken_before_the_plan_are_in_it_and_a_held_plan_is_the_hold_alone()
    {
        // Arrange: a remote delete of f (gone here), one plain new remote file and one clashing name still being written.
        var input = Input("gone", true, "-") with
        {
            NewRemote = [new SyncAction(SyncActionKind.DownloadNew, "new.txt") { Size = 7 }],
            CaseWaits = [SyncPlanner.WaitToRename("Clash.txt", isDirectory: false, TimeSpan.FromSeconds(1))!],
        };

        // Act
        var plan = SyncPlanner.Plan(input);
        var held = SyncPlanner.Plan(input with { Guard = new DeleteGuard { SyncedFiles = 1, FolderEmpty = true } });

        // Assert: the plan is the pass's whole work; a plan the guard holds runs nothing, downloads included.
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.DeleteRemote, Path: "f" });
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.DownloadNew, Path: "new.txt", Size: 7 });
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Wait, Path: "Clash.txt" });
        Assert.Equal(SyncActionKind.Hold, Assert.Single(held).Kind);
    }

    private static PlanInput NewDownloadInput(bool withSynced)
    {
        static RemoteEntry File(string path, bool deleted = false) => new(path, FileKind.File, 7, deleted, 5, [], 0);
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            ["plain.txt"] = File("plain.txt"),
            ["deep/plain2.txt"] = File("deep/plain2.txt"),
            ["deleted.txt"] = File("deleted.txt", deleted: true),
            ["moved-here.txt"] = File("moved-here.txt") with { MovedFrom = "old.txt" },
            ["tracked.txt"] = File("tracked.txt"),
            ["exists-here.txt"] = File("exists-here.txt"),
            ["build/out.bin"] = File("build/out.bin"),
            ["withheld.txt"] = File("withheld.txt"),
            ["refused.txt"] = File("refused.txt"),
            ["synced-file/x.txt"] = File("synced-file/x.txt"),
            ["remote-file"] = File("remote-file") with { Version = 9 },
            ["remote-file/x.txt"] = File("remote-file/x.txt"),
            ["folder"] = new RemoteEntry("folder", FileKind.Folder, 7, false, 0, [], 0),
            ["local-file/x.txt"] = File("local-file/x.txt"),
            ["A.txt"] = File("A.txt"),
        };
        var local = new LocalSnapshot { Ignore = new IgnoreTree(IgnoreMatcher.Create(["build/"])) };
        local.Entries["exists-here.txt"] = new LocalEntry("exists-here.txt", FileKind.File, 3, 1, SettlesIn: null);
        local.Entries["local-file"] = new LocalEntry("local-file", FileKind.File, 3, 1, SettlesIn: null);
        local.Entries["a.txt"] = new LocalEntry("a.txt", FileKind.File, 3, 1, SettlesIn: null);
        local.Withheld.Add("withheld.txt");
        return new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(StringComparer.Ordinal),
            Local = local,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = remote,
            Synced = withSynced
                ? new Dictionary<string, BaseStat>(StringComparer.Ordinal)
                {
                    ["tracked.txt"] = new BaseStat(FileKind.File, 5, 1, 6),
                    ["synced-file"] = new BaseStat(FileKind.File, 5, 1, 6),
                }
                : null,
            Refused = new HashSet<string>(StringComparer.Ordinal) { "refused.txt" },
        };
    }

    [Fact]
    public void An_upload_keeps_the_merge_base_as_base_version_and_a_new_file_uses_zero()
    {
        Assert.Equal(5UL, Assert.Single(SyncPlanner.Plan(Input("edit", true, "-"))).BaseVersion);
        Assert.Equal(0UL, Assert.Single(SyncPlanner.Plan(Input("edit", false, "-"))).BaseVersion);
        Assert.Equal(0UL, Assert.Single(SyncPlanner.Plan(Input("edit", true, "del"))).BaseVersion);
    }

    // The path "f" is ignored here (absent from the scan): whatever the base and the remote say, nothing is
    // deleted, uploaded or downloaded; a remote change is reported once as a skip.
    [Theory]
    [InlineData(true, "-", null)]
    [InlineData(true, "same", null)]
    [InlineData(true, "edit", "Skip")]
    [InlineData(true, "del", "Skip")]
    [InlineData(false, "edit", "Skip")]
    [InlineData(false, "del", null)]
    public void An_ignored_path_is_neither_deleted_nor_transferred(bool hasBase, string remote, string? expected)
    {
        var input = Input("-", hasBase, remote);
        input.Local.Ignore = new IgnoreTree(IgnoreMatcher.Create(["f"]));

        var plan = SyncPlanner.Plan(input);

        if (expected is null)
        {
            Assert.Empty(plan);
        }
        else
        {
            var action = Assert.Single(plan);
            Assert.Equal(SyncActionKind.Skip, action.Kind);
            Assert.Equal(SyncPlanner.IgnoredReason, action.Reason);
        }
    }

    [Fact]
    public void A_synced_folder_below_an_ignored_folder_is_not_deleted_remotely()
    {
        var snapshot = new LocalSnapshot { Ignore = new IgnoreTree(IgnoreMatcher.Create(["build/"])) };
        var bases = new Dictionary<string, FileRecord>
        {
            ["build"] = new("build", FileKind.Folder, 0, 0, 1, []),
            ["build/out"] = new("build/out", FileKind.Folder, 0, 0, 2, []),
            ["build/out/app.bin"] = new("build/out/app.bin", FileKind.File, 10, 100, 3, H1),
        };

        var plan = SyncPlanner.Plan(new PlanInput { Base = bases, Local = snapshot, Fingerprints = new Dictionary<string, FileFingerprint>(), Remote = new Dictionary<string, RemoteEntry>() });

        Assert.Empty(plan);
    }

    [Fact]
    public void Nothing_withheld_by_the_scan_is_deleted_remotely_or_downloaded_over()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Withheld.Add("locked");      // a folder the scan could not read
        snapshot.Withheld.Add("Notes.txt");   // the losing name of a case clash
        var bases = new Dictionary<string, FileRecord>
        {
            ["locked"] = new("locked", FileKind.Folder, 0, 0, 1, []),
            ["locked/a.txt"] = new("locked/a.txt", FileKind.File, 10, 100, 2, H1),
            ["locked/deep/b.txt"] = new("locked/deep/b.txt", FileKind.File, 10, 100, 3, H1),
            ["Notes.txt"] = new("Notes.txt", FileKind.File, 10, 100, 4, H1),
            ["gone.txt"] = new("gone.txt", FileKind.File, 10, 100, 5, H1),
        };
        var remote = new Dictionary<string, RemoteEntry>
        {
            ["locked/a.txt"] = new("locked/a.txt", FileKind.File, 9, false, 11, H2, 0),
            ["locked/new.txt"] = new("locked/new.txt", FileKind.File, 10, false, 12, H2, 0),
        };

        var plan = SyncPlanner.Plan(new PlanInput { Base = bases, Local = snapshot, Fingerprints = new Dictionary<string, FileFingerprint>(), Remote = remote });

        // Only the file really gone here is deleted; the withheld ones are left alone, their remote changes skipped.
        Assert.Equal([(SyncActionKind.DeleteRemote, "gone.txt")], plan.Where(a => a.Kind != SyncActionKind.Skip).Select(a => (a.Kind, a.Path)));
        Assert.Equal(["locked/a.txt", "locked/new.txt"], plan.Where(a => a.Kind == SyncActionKind.Skip).Select(a => a.Path).Order(StringComparer.Ordinal));
        Assert.All(plan.Where(a => a.Kind == SyncActionKind.Skip), a => Assert.Equal(SyncPlanner.WithheldReason, a.Reason));
        Assert.True(snapshot.IsWithheld("locked/deep/b.txt"));
        Assert.False(snapshot.IsWithheld("lockedness.txt"));
    }

    [Fact]
    public void An_unreadable_sync_folder_withholds_everything()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Withheld.Add(string.Empty);
        var bases = new Dictionary<string, FileRecord> { ["a.txt"] = new("a.txt", FileKind.File, 10, 100, 2, H1), ["d/b.txt"] = new("d/b.txt", FileKind.File, 10, 100, 3, H1) };

        var plan = SyncPlanner.Plan(new PlanInput { Base = bases, Local = snapshot, Fingerprints = new Dictionary<string, FileFingerprint>(), Remote = new Dictionary<string, RemoteEntry>() });

        Assert.Empty(plan);
    }

    [Fact]
    public void A_file_that_changed_while_being_read_is_skipped()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["a"] = new LocalEntry("a", FileKind.File, 10, 99, SettlesIn: null);
        var plan = SyncPlanner.Plan(new PlanInput { Base = new Dictionary<string, FileRecord>(), Local = snapshot, Fingerprints = new Dictionary<string, FileFingerprint>(), Remote = new Dictionary<string, RemoteEntry>() });

        Assert.Equal(SyncActionKind.Skip, Assert.Single(plan).Kind);
    }

    [Fact]
    public void A_vanished_file_and_a_new_file_with_the_same_content_become_a_move()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["new/b.txt"] = new LocalEntry("new/b.txt", FileKind.File, 10, 7, SettlesIn: null);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["old/a.txt"] = new("old/a.txt", FileKind.File, 10, 3, 4, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint> { ["new/b.txt"] = new(10, 7, [], H1) },
            Remote = new Dictionary<string, RemoteEntry>(),
        });

        var move = Assert.Single(plan);
        Assert.Equal(SyncActionKind.MoveRemote, move.Kind);
        Assert.Equal(("old/a.txt", "new/b.txt", 4UL), (move.Path, move.ToPath, move.BaseVersion));
    }

    [Fact]
    public void Ambiguous_content_matches_are_not_guessed_as_moves()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["c"] = new LocalEntry("c", FileKind.File, 10, 7, SettlesIn: null);
        snapshot.Entries["d"] = new LocalEntry("d", FileKind.File, 10, 7, SettlesIn: null);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["a"] = new("a", FileKind.File, 10, 3, 4, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint> { ["c"] = new(10, 7, [], H1), ["d"] = new(10, 7, [], H1) },
            Remote = new Dictionary<string, RemoteEntry>(),
        });

        Assert.DoesNotContain(plan, a => a.Kind == SyncActionKind.MoveRemote);
        Assert.Equal(3, plan.Count);
    }

    [Fact]
    public void A_remote_move_of_an_unchanged_file_becomes_a_local_rename()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["a"] = new LocalEntry("a", FileKind.File, 10, 3, SettlesIn: null);
        var remote = new Dictionary<string, RemoteEntry>();
        RemoteChanges.Apply(remote, [new Dropbox.Shared.Protos.Metadata.Change
        {
            Sequence = 9, Kind = Dropbox.Shared.Protos.Metadata.ChangeKind.Move, OldPath = "a",
            Entry = new Dropbox.Shared.Protos.Metadata.FileEntry { Path = "b", Version = 9, Size = 10, ContentHash = Google.Protobuf.ByteString.CopyFrom(H1) },
        }]);

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["a"] = new("a", FileKind.File, 10, 3, 4, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = remote,
        });

        var move = Assert.Single(plan);
        Assert.Equal((SyncActionKind.MoveLocal, "a", "b"), (move.Kind, move.Path, move.ToPath));
    }

    [Fact]
    public void Folders_empty_here_are_created_remotely_and_remote_folders_locally()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["empty"] = LocalEntry.Folder("empty");
        snapshot.EmptyFolders.Add("empty");
        snapshot.Entries["full"] = LocalEntry.Folder("full");
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry> { ["remote-dir"] = new("remote-dir", FileKind.Folder, 3, false, 0, [], 0) },
        });

        Assert.Contains(plan, a => a is { Kind: SyncActionKind.CreateRemoteFolder, Path: "empty" });
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.CreateLocalFolder, Path: "remote-dir" });
        Assert.DoesNotContain(plan, a => a.Path == "full");
    }

    [Fact]
    public void A_file_as_synced_here_that_the_remote_side_made_a_folder_leaves_the_path_before_the_folder_comes_down()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["B"] = new LocalEntry("B", FileKind.File, 10, 100, SettlesIn: null);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["B"] = new("B", FileKind.File, 10, 100, 1, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry>
            {
                ["B"] = new("B", FileKind.Folder, 3, false, 0, [], 0),
                ["B/a"] = new("B/a", FileKind.File, 4, false, 12, H2, 0),
            },
        });

        Assert.Equal([(SyncActionKind.KindConflict, "B", SyncPlanner.ReplacedByFolderReason), (SyncActionKind.Download, "B/a", null)],
            plan.Select(a => (a.Kind, a.Path, a.Reason)).OrderBy(a => a.Path, StringComparer.Ordinal));
    }

    [Fact]
    public void A_file_a_remote_move_takes_from_here_holds_back_nothing_the_server_now_holds_under_its_old_path()
    {
        // Another device could not take the file at 'A' (a folder there holds its state directory): it moved the file
        // aside on the server and put its own files in the folder 'A'. Here the file follows the move, and what is in
        // the folder comes down in the same pass, never skipped as under a file.
        var snapshot = new LocalSnapshot();
        snapshot.Entries["A"] = new LocalEntry("A", FileKind.File, 10, 3, SettlesIn: null);
        var remote = new Dictionary<string, RemoteEntry>();
        RemoteChanges.Apply(remote,
        [
            new Dropbox.Shared.Protos.Metadata.Change
            {
                Sequence = 9, Kind = Dropbox.Shared.Protos.Metadata.ChangeKind.Move, OldPath = "A",
                Entry = new Dropbox.Shared.Protos.Metadata.FileEntry { Path = "A (conflicted copy b)", Version = 9, Size = 10, ContentHash = Google.Protobuf.ByteString.CopyFrom(H1) },
            },
            new Dropbox.Shared.Protos.Metadata.Change
            {
                Sequence = 10, Kind = Dropbox.Shared.Protos.Metadata.ChangeKind.Upsert,
                Entry = new Dropbox.Shared.Protos.Metadata.FileEntry { Path = "A/x", Version = 10, Size = 12, ContentHash = Google.Protobuf.ByteString.CopyFrom(H2) },
            },
        ]);

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["A"] = new("A", FileKind.File, 10, 3, 4, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = remote,
        });

        Assert.Equal([(SyncActionKind.MoveLocal, "A", "A (conflicted copy b)"), (SyncActionKind.Download, "A/x", null)],
            plan.Select(a => (a.Kind, a.Path, a.ToPath)).OrderBy(a => a.Path, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(null, false)] // only the state directory there: nothing needs the folder, which the scan does not call empty
    [InlineData(".cfg/user.conf", true)]
    [InlineData(".cfg/empty/", true)]
    public void A_remote_file_at_a_folder_holding_the_state_directory_is_moved_aside_on_the_server_with_the_version_seen_when_something_here_needs_the_folder(string? beside, bool moves)
    {
        // The folder as the engine's scan sees it (the state directory excluded), so that what the scan leaves out of
        // the snapshot is the scanner's to get right here too: a folder that holds only the state directory is neither
        // listed as empty (it would be created on the server) nor holds anything that needs the folder.
        using var dir = new TempFolder();
        var stateDir = Path.Combine(dir.Path, ".cfg", "client-state");
        Directory.CreateDirectory(stateDir);
        File.WriteAllText(Path.Combine(stateDir, LocalState.DatabaseFileName), "the db");
        if (beside is { } b && b.EndsWith('/'))
        {
            Directory.CreateDirectory(Path.Combine(dir.Path, b));
        }
        else if (beside is not null)
        {
            File.WriteAllText(Path.Combine(dir.Path, beside), "abc");
        }

        var snapshot = new LocalScanner(dir.Path, IgnoreMatcher.BuiltIn, stateDir) { Stability = Local.Stability.Off }.Scan(CancellationToken.None);
        Assert.DoesNotContain(snapshot.Entries.Keys, p => p.StartsWith(".cfg/client-state", StringComparison.Ordinal));
        var aside = new RemoteEntry(".cfg", FileKind.File, 7, false, 10, H1, 0);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = snapshot,
            Fingerprints = beside is null || beside.EndsWith('/') ? new Dictionary<string, FileFingerprint>() : new Dictionary<string, FileFingerprint> { [beside] = new FileFingerprint(3, snapshot.Entries[beside].MtimeTicks, [], H1) },
            Remote = new Dictionary<string, RemoteEntry>(),
            Refused = new HashSet<string>(StringComparer.Ordinal) { ".cfg" },
            FilesAboveStateDirectory = new Dictionary<string, RemoteEntry> { [".cfg"] = aside },
        });

        var moved = plan.Where(a => a.Kind == SyncActionKind.KindConflict).ToList();
        if (!moves)
        {
            Assert.Empty(moved);
            Assert.DoesNotContain(plan, a => a.Kind == SyncActionKind.CreateRemoteFolder || a.Path == ".cfg");
            return;
        }

        var move = Assert.Single(moved);
        Assert.Equal((SyncActionKind.KindConflict, ".cfg", SyncPlanner.StateFolderAgainstFileReason, 7UL), (move.Kind, move.Path, move.Reason, move.BaseVersion));
        Assert.Same(aside, move.Remote);
    }

    [Theory]
    [InlineData(false)] // a synced file there, clean: the scan leaves it out, only the engine's index knows it
    [InlineData(true)] // a synced file the planner holds the row of (gone here, its delete still to be sent)
    public void A_remote_file_at_a_folder_holding_the_state_directory_is_moved_aside_when_the_folder_holds_synced_paths_the_scan_does_not_list(bool asBaseRow)
    {
        // The file came back over the folder after this device had moved it aside and uploaded what lies beside the
        // state directory (review R8): nothing there is new or changed, yet the folder is needed, for what is up already.
        var aside = new RemoteEntry(".cfg", FileKind.File, 9, false, 10, H1, 0);
        var snapshot = new LocalSnapshot();
        snapshot.Entries[".cfg"] = LocalEntry.Folder(".cfg");
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = asBaseRow ? new Dictionary<string, FileRecord> { [".cfg/user.conf"] = new(".cfg/user.conf", FileKind.File, 3, 100, 4, H2) } : new Dictionary<string, FileRecord>(),
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry>(),
            Refused = new HashSet<string>(StringComparer.Ordinal) { ".cfg" },
            FilesAboveStateDirectory = new Dictionary<string, RemoteEntry> { [".cfg"] = aside },
            StateParentsHoldingSynced = asBaseRow ? new HashSet<string>(StringComparer.Ordinal) : new HashSet<string>(StringComparer.Ordinal) { ".cfg" },
        });

        var move = Assert.Single(plan, a => a.Kind == SyncActionKind.KindConflict);
        Assert.Equal((".cfg", SyncPlanner.StateFolderAgainstFileReason, 9UL), (move.Path, move.Reason, move.BaseVersion));
    }

    [Fact]
    public void A_skip_under_a_kind_clash_carries_its_remote_change_so_the_engine_remembers_it()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["A"] = new LocalEntry("A", FileKind.File, 10, 100, SettlesIn: null);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["A"] = new("A", FileKind.Folder, 0, 0, 1, []), ["A/x"] = new("A/x", FileKind.File, 10, 100, 2, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint> { ["A"] = new(10, 100, [], H3) },
            Remote = new Dictionary<string, RemoteEntry> { ["A/x"] = new("A/x", FileKind.File, 5, false, 10, H2, 0) },
        });

        Assert.Equal([(SyncActionKind.Skip, "A", SyncPlanner.KindClashReason, false), (SyncActionKind.Skip, "A/x", SyncPlanner.UnderKindClashReason, true)],
            plan.Select(a => (a.Kind, a.Path, a.Reason, a.Remote?.Version == 5)).OrderBy(a => a.Path, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_file_row_at_a_path_that_is_a_folder_here_and_remotely_or_deleted_remotely_is_no_clash_and_syncs_what_is_under_it(bool remoteDeleted)
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["A"] = LocalEntry.Folder("A");
        snapshot.Entries["A/y"] = new LocalEntry("A/y", FileKind.File, 10, 100, SettlesIn: null);
        var remote = new Dictionary<string, RemoteEntry>
        {
            ["A"] = remoteDeleted ? new("A", FileKind.File, 3, true, 0, [], 0) : new("A", FileKind.Folder, 3, false, 0, [], 0),
        };
        if (!remoteDeleted)
        {
            remote["A/x"] = new("A/x", FileKind.File, 4, false, 12, H2, 0);
        }

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["A"] = new("A", FileKind.File, 10, 100, 1, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint> { ["A/y"] = new(10, 100, [], H3) },
            Remote = remote,
        });

        Assert.DoesNotContain(plan, a => a.Kind == SyncActionKind.Skip);
        Assert.Contains(plan, a => a is { Path: "A", Kind: SyncActionKind.CreateLocalFolder or SyncActionKind.CreateRemoteFolder });
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Upload, Path: "A/y" });
        Assert.Equal(!remoteDeleted, plan.Any(a => a is { Kind: SyncActionKind.Download, Path: "A/x" }));
    }

    [Fact]
    public void A_file_here_and_remotely_over_a_folder_row_is_decided_as_two_new_files()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["A"] = new LocalEntry("A", FileKind.File, 10, 100, SettlesIn: null);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["A"] = new("A", FileKind.Folder, 0, 0, 1, []) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint> { ["A"] = new(10, 100, [], H1) },
            Remote = new Dictionary<string, RemoteEntry> { ["A"] = new("A", FileKind.File, 4, false, 12, H2, 0) },
        });

        // Different contents: the local one is kept as a conflicted copy, never overwritten.
        Assert.Equal([(SyncActionKind.Conflict, "A")], plan.Select(a => (a.Kind, a.Path)));
    }

    [Fact]
    public void A_file_deleted_here_and_replaced_by_a_folder_remotely_becomes_that_folder_here()
    {
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["A"] = new("A", FileKind.Folder, 0, 0, 1, []), ["A/a"] = new("A/a", FileKind.File, 10, 100, 2, H1) },
            Local = new LocalSnapshot(),
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry> { ["A/a"] = new("A/a", FileKind.Folder, 4, false, 0, [], 0) },
        });

        // Not a kind clash: nothing is left here to clash with, so the remote folder comes down (and with it A, whose
        // remote delete is refused as not empty, keeping its row).
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.CreateLocalFolder, Path: "A/a" });
        Assert.DoesNotContain(plan, a => a.Kind == SyncActionKind.Skip);
    }

    [Fact]
    public void A_folder_deleted_here_and_replaced_by_a_file_remotely_becomes_that_file_here()
    {
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["d"] = new("d", FileKind.Folder, 0, 0, 1, []) },
            Local = new LocalSnapshot(),
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry> { ["d"] = new("d", FileKind.File, 4, false, 12, H2, 0) },
        });

        Assert.Equal([(SyncActionKind.Download, "d")], plan.Select(a => (a.Kind, a.Path)));
    }

    [Fact]
    public void A_remote_move_into_a_folder_that_is_a_file_here_is_not_made_a_local_rename()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["A"] = new LocalEntry("A", FileKind.File, 10, 200, SettlesIn: null);
        snapshot.Entries["b"] = LocalEntry.Folder("b");
        snapshot.Entries["b/A"] = new LocalEntry("b/A", FileKind.File, 10, 100, SettlesIn: null);
        var remote = new Dictionary<string, RemoteEntry>();
        RemoteChanges.Apply(remote, [new Dropbox.Shared.Protos.Metadata.Change
        {
            Sequence = 4, Kind = Dropbox.Shared.Protos.Metadata.ChangeKind.Move, OldPath = "b/A",
            Entry = new Dropbox.Shared.Protos.Metadata.FileEntry { Path = "A/B", Version = 4, Size = 10, ContentHash = Google.Protobuf.ByteString.CopyFrom(H1) },
        }]);

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["A"] = new("A", FileKind.Folder, 0, 0, 3, []), ["b/A"] = new("b/A", FileKind.File, 10, 100, 2, H1) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint> { ["A"] = new(10, 200, [], H2) },
            Remote = remote,
        });

        // A is a file here and a folder remotely: nothing may be renamed into it (the rename fails every pass).
        Assert.DoesNotContain(plan, a => a.Kind == SyncActionKind.MoveLocal);
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Skip, Path: "A/B" });
    }

    private static PlanInput Input(string local, bool hasBase, string remote)
    {
        var snapshot = new LocalSnapshot();
        var fingerprints = new Dictionary<string, FileFingerprint>();
        switch (local)
        {
            case "same":
                snapshot.Entries["f"] = new LocalEntry("f", FileKind.File, 10, 100, SettlesIn: null);
                break;
            case "touch":
                snapshot.Entries["f"] = new LocalEntry("f", FileKind.File, 10, 200, SettlesIn: null);
                fingerprints["f"] = new FileFingerprint(10, 200, [], H1);
                break;
            case "edit":
                snapshot.Entries["f"] = new LocalEntry("f", FileKind.File, 11, 300, SettlesIn: null);
                fingerprints["f"] = new FileFingerprint(11, 300, [ChunkRef.Raw(ChunkId.Compute([7]), 11)], H2);
                break;
        }

        var bases = new Dictionary<string, FileRecord>();
        if (hasBase)
        {
            bases["f"] = new FileRecord("f", FileKind.File, 10, 100, 5, H1);
        }

        var remotes = new Dictionary<string, RemoteEntry>();
        switch (remote)
        {
            case "same":
                remotes["f"] = new RemoteEntry("f", FileKind.File, 5, false, 10, H1, 0);
                break;
            case "edit":
                remotes["f"] = new RemoteEntry("f", FileKind.File, 8, false, 12, H3, 0);
                break;
            case "edit2":
                remotes["f"] = new RemoteEntry("f", FileKind.File, 8, false, 11, H2, 0);
                break;
            case "del":
                remotes["f"] = new RemoteEntry("f", FileKind.File, 8, true, 0, [], 0);
                break;
        }

        return new PlanInput { Base = bases, Local = snapshot, Fingerprints = fingerprints, Remote = remotes };
    }
}
