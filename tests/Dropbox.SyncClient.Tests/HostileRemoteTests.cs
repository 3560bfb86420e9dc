using System.Globalization;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests;

/// <summary>What a server sends is hostile: paths, times, sizes and pages are checked before anything touches the disk.</summary>
public sealed class HostileRemoteTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("../x", "'..' segment")]
    [InlineData("a/../../x", "'..' segment")]
    [InlineData("/abs/x", "Absolute path")]
    [InlineData("C:\\x", "backslash")]
    [InlineData("a\0b", "control character")]
    [InlineData("./x", "'.' segment")]
    [InlineData("a//b", "empty segment")]
    [InlineData("", "Empty path")]
    [InlineData("cafe\u0301", "NFC")]
    public void A_server_path_that_breaks_a_rule_is_refused_naming_the_path_and_the_rule(string path, string rule)
    {
        var e = Assert.Throws<DropboxException>(() => SyncPaths.Resolve(_dir.Path, path));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(rule, e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{SyncPaths.Display(path)}'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\0', e.Message);
    }

    [Fact]
    public void A_good_server_path_resolves_inside_the_folder_even_where_its_folders_do_not_exist_yet()
    {
        var folder = _dir.CreateSub("folder");

        var full = SyncPaths.Resolve(folder, "new/deeper/file.txt");

        Assert.Equal(Path.Combine(folder, "new", "deeper", "file.txt"), full);
    }

    [Theory]
    [InlineData("link/x.txt", "'link'")]
    [InlineData("real/inner/x.txt", "'real/inner'")]
    [InlineData("link", "'link'")]
    public void A_server_path_through_a_symbolic_link_on_disk_is_refused(string path, string link)
    {
        var folder = _dir.CreateSub("folder");
        var outside = _dir.CreateSub("outside");
        Directory.CreateSymbolicLink(Path.Combine(folder, "link"), outside);
        Directory.CreateDirectory(Path.Combine(folder, "real"));
        Directory.CreateSymbolicLink(Path.Combine(folder, "real", "inner"), outside);

        var e = Assert.Throws<DropboxException>(() => SyncPaths.Resolve(folder, path));

        Assert.Contains(link + " is a symbolic link", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_feed_with_bad_paths_keeps_its_good_changes_and_applies_a_move_with_one_bad_end_as_the_change_to_its_good_end()
    {
        var changes = new Dictionary<string, RemoteEntry>();
        var refused = new Refusals();

        RemoteChanges.Apply(changes,
        [
            Upsert(1, "good.txt"),
            Upsert(2, "../evil.txt"),
            new Change { Sequence = 3, Kind = ChangeKind.Move, OldPath = "good.txt", Entry = new FileEntry { Path = "../out.txt", Version = 3 } },
            new Change { Sequence = 4, Kind = ChangeKind.Move, OldPath = "/etc/passwd", Entry = new FileEntry { Path = "in.txt", Version = 4 } },
            new Change { Sequence = 5, Kind = ChangeKind.Delete, OldPath = "a/../../b" },
            new Change { Sequence = 6, Kind = ChangeKind.Upsert, Entry = new FileEntry { Path = "huge.txt", Version = 6, Size = ulong.MaxValue } },
            Upsert(7, "also-good.txt"),
            new Change { Sequence = 8, Kind = ChangeKind.Move, OldPath = "/x", Entry = new FileEntry { Path = "../y", Version = 8 } },
        ], refused);

        Assert.Equal(["also-good.txt", "good.txt", "in.txt"], changes.Keys.Order(StringComparer.Ordinal));
        Assert.True(changes["good.txt"].Deleted); // moved to a refused name: gone from here
        Assert.Null(changes["good.txt"].MovedTo);
        Assert.False(changes["in.txt"].Deleted); // moved from a refused name: a new file here
        Assert.Null(changes["in.txt"].MovedFrom);
        Assert.Equal(7, refused.Messages.Count);
        Assert.Contains(refused.Messages, r => r.StartsWith("'../out.txt' (the destination of a move from 'good.txt'", StringComparison.Ordinal));
        Assert.Contains(refused.Messages, r => r.StartsWith("'/etc/passwd' (the source of a move to 'in.txt'", StringComparison.Ordinal));
        Assert.Contains(refused.Messages, r => r.StartsWith("'huge.txt'", StringComparison.Ordinal) && r.Contains("beyond the largest file", StringComparison.Ordinal));
        Assert.Contains("huge.txt", refused.Paths);
    }

    [Fact]
    public void A_refused_change_replaces_an_older_state_of_its_path_and_a_later_good_one_replaces_the_refusal()
    {
        var changes = new Dictionary<string, RemoteEntry>();
        var refused = new Refusals();

        RemoteChanges.Apply(changes,
        [
            Upsert(1, "a.txt"),
            new Change { Sequence = 2, Kind = ChangeKind.Upsert, Entry = new FileEntry { Path = "a.txt", Version = 2, Size = ulong.MaxValue } },
            new Change { Sequence = 3, Kind = ChangeKind.Upsert, Entry = new FileEntry { Path = "b.txt", Version = 3, Size = ulong.MaxValue } },
            Upsert(4, "b.txt"),
        ], refused);

        Assert.Equal(["b.txt"], changes.Keys);
        Assert.Equal(["a.txt"], refused.Paths);
    }

    [Fact]
    public async Task A_listing_that_always_has_more_new_pages_stops_at_the_page_bound_with_a_clear_error()
    {
        var n = 0;
        var remote = new ScriptedRemote(listFiles: _ => new ListFilesResponse
        {
            Cursor = "c", HasMore = true, Entries = { new FileEntry { Path = "p" + (++n).ToString("D9", CultureInfo.InvariantCulture) } },
        });

        var e = await Assert.ThrowsAsync<DropboxException>(() => RemoteChanges.FetchAsync(remote, null, forceFull: true, null, maxPages: 50, reserved: null, CancellationToken.None));

        Assert.Equal(50, remote.ListFilesCalls);
        Assert.Contains("still had more after 50 pages", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_feed_longer_than_the_page_bound_stops_there_and_returns_the_cursor_it_reached()
    {
        var n = 0;
        var remote = new ScriptedRemote(listChanges: _ => new ListChangesResponse { Cursor = "c" + ++n, HasMore = true, Changes = { Upsert((ulong)n, "f" + n + ".txt") } });

        var view = await RemoteChanges.FetchAsync(remote, "c0", forceFull: false, null, maxPages: 40, reserved: null, CancellationToken.None);

        Assert.Equal(40, remote.ListChangesCalls);
        Assert.Equal("c40", view.Cursor);
        Assert.True(view.MoreChanges);
        Assert.Equal(40, view.Changes.Count);
    }

    [Fact]
    public async Task A_client_far_behind_on_the_feed_catches_up_over_several_passes()
    {
        var server = new FakeServer();
        using var c = new TestClient(_dir, "c", server);
        await c.SyncAsync();
        for (var i = 0; i < 5; i++)
        {
            await server.CommitFileAsync(new CommitFileRequest { Path = $"f{i}.txt", Size = 0 }, CancellationToken.None);
        }

        var pageSize = server.ChangesPageLimit;
        server.ChangesPageLimit = 1;
        try
        {
            var first = await c.SyncAsync(new SyncOptions { MaxListPages = 2 });
            var counts = new List<long> { first.FilesDownloaded };
            for (var pass = 0; pass < 5 && TestClient.FilesIn(c.Folder).Length < 5; pass++)
            {
                counts.Add((await c.SyncAsync(new SyncOptions { MaxListPages = 2 })).FilesDownloaded);
            }

            Assert.Equal(0, first.Errors);
            Assert.Equal(2, first.FilesDownloaded);
            Assert.Contains(first.Notes, n => n.Contains("the next reads on", StringComparison.Ordinal));
            Assert.Equal([2L, 2L, 1L], counts);
        }
        finally
        {
            server.ChangesPageLimit = pageSize;
        }
    }

    [Theory]
    [InlineData(long.MinValue)]
    [InlineData(long.MaxValue)]
    [InlineData(-1L)]
    [InlineData(253_402_300_800_000L)] // the first millisecond of year 10000
    public async Task A_file_whose_server_mtime_is_out_of_range_downloads_and_keeps_its_download_time(long mtime)
    {
        var server = new FakeServer();
        await server.CommitFileAsync(new CommitFileRequest { Path = "odd-time.txt", Size = 0, MtimeUnixMs = mtime }, CancellationToken.None);
        await server.CommitFileAsync(new CommitFileRequest { Path = "plain.txt", Size = 0, MtimeUnixMs = 1_600_000_000_000 }, CancellationToken.None);
        using var client = new TestClient(_dir, "c", server);
        var before = DateTime.UtcNow.AddMinutes(-1);

        var summary = await client.SyncAsync();

        Assert.Equal(0, summary.Errors);
        Assert.Equal(2, summary.FilesDownloaded);
        Assert.True(File.GetLastWriteTimeUtc(client.PathOf("odd-time.txt")) > before);
        Assert.Equal(new DateTime(2020, 9, 13, 12, 26, 40, DateTimeKind.Utc), File.GetLastWriteTimeUtc(client.PathOf("plain.txt")));
        Assert.Contains(summary.Notes, n => n.Contains("'odd-time.txt'", StringComparison.Ordinal) && n.Contains("out of range", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_escaping_path_is_refused_and_reported_while_the_rest_of_the_pass_syncs_and_the_cursor_moves_on()
    {
        var server = new FakeServer();
        await server.CommitFileAsync(new CommitFileRequest { Path = "../escape.txt", Size = 0 }, CancellationToken.None);
        await server.CommitFileAsync(new CommitFileRequest { Path = "good.txt", Size = 0 }, CancellationToken.None);
        using var client = new TestClient(_dir, "c", server);

        var first = await client.SyncAsync();
        await server.CommitFileAsync(new CommitFileRequest { Path = "later.txt", Size = 0 }, CancellationToken.None);
        var second = await client.SyncAsync();

        Assert.True(File.Exists(client.PathOf("good.txt")));
        Assert.False(File.Exists(Path.Combine(_dir.Path, "escape.txt")));
        Assert.Equal(1, first.Refused);
        Assert.Equal(0, first.Errors);
        Assert.Contains(first.Refusals, r => r.StartsWith("'../escape.txt'", StringComparison.Ordinal) && r.Contains("'..' segment", StringComparison.Ordinal));
        Assert.Contains("\"refused\":1", first.ToJson(), StringComparison.Ordinal);
        Assert.Equal(1, second.FilesDownloaded);
        Assert.Equal(0, second.Refused); // the cursor moved past it: it is not seen (nor reported) again
        Assert.True(File.Exists(client.PathOf("later.txt")));
    }

    [Theory]
    [InlineData(".dbx-state")]
    [InlineData(".dbx-state/client.db")]
    [InlineData(".dbx-state/trash/x.txt")]
    public void A_server_path_to_or_under_the_state_directory_is_refused(string path)
    {
        var folder = _dir.CreateSub("folder");

        var e = Assert.Throws<DropboxException>(() => SyncPaths.Resolve(folder, path, Path.Combine(folder, ".dbx-state")));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("state directory", e.Message, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(folder, ".dbx-state-not"), SyncPaths.Resolve(folder, ".dbx-state-not", Path.Combine(folder, ".dbx-state")));
    }

    [Fact]
    public async Task A_server_path_into_the_state_directory_inside_the_folder_is_never_written_moved_or_deleted()
    {
        var folder = _dir.CreateSub("folder");
        using var state = LocalState.Open(Path.Combine(folder, ".dbx-state"));
        var server = new FakeServer();
        var engine = new SyncEngine(new SyncContext
        {
            Folder = folder, State = state, Metadata = server, Transfer = server,
            Chunker = new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: true, parallelism: 2),
            Device = "c", Options = new SyncOptions(),
        });
        var db = Path.Combine(folder, ".dbx-state", LocalState.DatabaseFileName);
        var planted = Path.Combine(folder, ".dbx-state", "planted.txt");
        await server.CommitFileAsync(new CommitFileRequest { Path = ".dbx-state/" + LocalState.DatabaseFileName, Size = 0 }, CancellationToken.None);
        await server.CommitFileAsync(new CommitFileRequest { Path = ".dbx-state/planted.txt", Size = 0 }, CancellationToken.None);
        await server.CommitFileAsync(new CommitFileRequest { Path = "good.txt", Size = 0 }, CancellationToken.None);

        var listing = await engine.RunPassAsync(CancellationToken.None);
        File.WriteAllText(Path.Combine(folder, ".dbx-state", "mine.txt"), "the client's own");
        await server.MoveFileAsync(new MoveFileRequest { FromPath = "good.txt", ToPath = ".dbx-state/moved.txt" }, CancellationToken.None);
        await server.CommitFileAsync(new CommitFileRequest { Path = ".dbx-state/mine.txt", Size = 0 }, CancellationToken.None);
        await server.DeleteFileAsync(new DeleteFileRequest { Path = ".dbx-state/mine.txt" }, CancellationToken.None);
        var delta = await engine.RunPassAsync(CancellationToken.None);

        Assert.False(File.Exists(planted), $"planted in the state directory; downloaded {listing.FilesDownloaded}, refused {listing.Refused}");
        Assert.Equal(2, listing.Refused);
        Assert.Equal(0, listing.Errors);
        Assert.Equal(1, listing.FilesDownloaded);
        Assert.Contains(listing.Refusals, r => r.Contains("state directory", StringComparison.Ordinal));
        Assert.True(new FileInfo(db).Length > 0);
        Assert.False(File.Exists(Path.Combine(folder, ".dbx-state", "moved.txt")));
        Assert.Equal("the client's own", File.ReadAllText(Path.Combine(folder, ".dbx-state", "mine.txt")));
        Assert.Equal(0, delta.Errors);
        Assert.False(File.Exists(Path.Combine(folder, "good.txt"))); // moved into the state directory: deleted here
        Assert.Equal(0L, state.CountFiles());
    }

    private static Change Upsert(ulong seq, string path) => new()
    {
        Sequence = seq,
        Kind = ChangeKind.Upsert,
        Entry = new FileEntry { Path = path, Version = seq, Size = 1, ContentHash = ByteString.CopyFrom((byte)seq) },
    };
}
