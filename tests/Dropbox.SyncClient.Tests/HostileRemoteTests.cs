using System.Globalization;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests;

/// <summary>What a server sends is hostile: paths, times, sizes and pages are checked before anything touches the disk.</summary>
public sealed class HostileRemoteTests : IDisposable
{
    private readonly TempDir _dir = new();

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
        var folder = _dir.Sub("folder");

        var full = SyncPaths.Resolve(folder, "new/deeper/file.txt");

        Assert.Equal(Path.Combine(folder, "new", "deeper", "file.txt"), full);
    }

    [Theory]
    [InlineData("link/x.txt", "'link'")]
    [InlineData("real/inner/x.txt", "'real/inner'")]
    [InlineData("link", "'link'")]
    public void A_server_path_through_a_symbolic_link_on_disk_is_refused(string path, string link)
    {
        var folder = _dir.Sub("folder");
        var outside = _dir.Sub("outside");
        Directory.CreateSymbolicLink(Path.Combine(folder, "link"), outside);
        Directory.CreateDirectory(Path.Combine(folder, "real"));
        Directory.CreateSymbolicLink(Path.Combine(folder, "real", "inner"), outside);

        var e = Assert.Throws<DropboxException>(() => SyncPaths.Resolve(folder, path));

        Assert.Contains(link + " is a symbolic link", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_feed_with_bad_paths_keeps_its_good_changes_and_refuses_a_move_with_either_end_bad_whole()
    {
        var changes = new Dictionary<string, RemoteEntry>();
        var refused = new List<string>();

        RemoteChanges.Apply(changes,
        [
            Upsert(1, "good.txt"),
            Upsert(2, "../evil.txt"),
            new Change { Sequence = 3, Kind = ChangeKind.Move, OldPath = "good.txt", Entry = new FileEntry { Path = "../out.txt", Version = 3 } },
            new Change { Sequence = 4, Kind = ChangeKind.Move, OldPath = "/etc/passwd", Entry = new FileEntry { Path = "in.txt", Version = 4 } },
            new Change { Sequence = 5, Kind = ChangeKind.Delete, OldPath = "a/../../b" },
            new Change { Sequence = 6, Kind = ChangeKind.Upsert, Entry = new FileEntry { Path = "huge.txt", Version = 6, Size = ulong.MaxValue } },
            Upsert(7, "also-good.txt"),
        ], refused);

        Assert.Equal(["also-good.txt", "good.txt"], changes.Keys.Order(StringComparer.Ordinal));
        Assert.False(changes["good.txt"].Deleted);
        Assert.Equal(5, refused.Count);
        Assert.Contains(refused, r => r.StartsWith("'../out.txt'", StringComparison.Ordinal));
        Assert.Contains(refused, r => r.StartsWith("'/etc/passwd' (the source of a move to 'in.txt')", StringComparison.Ordinal));
        Assert.Contains(refused, r => r.StartsWith("'huge.txt'", StringComparison.Ordinal) && r.Contains("beyond the largest file", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_listing_that_always_has_more_new_pages_stops_at_the_page_bound_with_a_clear_error()
    {
        var n = 0;
        var remote = new ScriptedRemote(listFiles: _ => new ListFilesResponse
        {
            Cursor = "c", HasMore = true, Entries = { new FileEntry { Path = "p" + (++n).ToString("D9", CultureInfo.InvariantCulture) } },
        });

        var e = await Assert.ThrowsAsync<DropboxException>(() => RemoteChanges.FetchAsync(remote, null, forceFull: true, null, maxPages: 50, CancellationToken.None));

        Assert.Equal(50, remote.ListFilesCalls);
        Assert.Contains("still had more after 50 pages", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_feed_that_always_has_more_changes_stops_at_the_page_bound_with_a_clear_error()
    {
        var n = 0;
        var remote = new ScriptedRemote(listChanges: _ => new ListChangesResponse { Cursor = "c" + ++n, HasMore = true, Changes = { Upsert((ulong)n, "f.txt") } });

        var e = await Assert.ThrowsAsync<DropboxException>(() => RemoteChanges.FetchAsync(remote, "c0", forceFull: false, null, maxPages: 40, CancellationToken.None));

        Assert.Equal(40, remote.ListChangesCalls);
        Assert.Contains("still had more after 40 pages", e.Message, StringComparison.Ordinal);
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

    private static Change Upsert(ulong seq, string path) => new()
    {
        Sequence = seq,
        Kind = ChangeKind.Upsert,
        Entry = new FileEntry { Path = path, Version = seq, Size = 1, ContentHash = ByteString.CopyFrom((byte)seq) },
    };
}
