using System.Text;
using System.Text.Json;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>
/// The real client (a real process running <c>sync --once --json</c>) against a metadata node and a storage node that
/// lie: escaping paths, wrong chunk bytes, absurd sizes and times, endless pages. The client never writes outside
/// its folder, never crashes, reports what it refused, and still syncs the good entries of the same pass.
/// </summary>
[Trait("Category", "Slow")]
public sealed class HostileServerTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Escaping_paths_in_a_full_listing_are_refused_one_by_one_and_the_good_entries_still_sync()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        world.AddFile("good.txt", Encoding.UTF8.GetBytes("good"));
        world.AddFile("dir/good2.txt", Encoding.UTF8.GetBytes("good too"));
        var absolute = Path.Combine(_dir.Path, "abs", "x.txt");
        string[] bad =
        [
            "../escape.txt", absolute, "a/../../up.txt", "C:\\x.txt", "a\0b.txt", "./dot.txt", "dir//x.txt", "trailing/", "ctl\u001b[2J.txt",
            "cafe\u0301.txt", // NFD: not the form the server stores
        ];
        foreach (var path in bad)
        {
            world.AddFile(path, Encoding.UTF8.GetBytes("evil " + path));
        }

        await client.LoginAsync();
        var before = client.OutsideTree();

        var (result, summary) = await client.SyncAsync();

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("good", File.ReadAllText(client.PathOf("good.txt")));
        Assert.Equal("good too", File.ReadAllText(client.PathOf("dir/good2.txt")));
        Assert.Equal(["dir", "dir/good2.txt", "good.txt"], client.FolderTree());
        Assert.Equal(before, client.OutsideTree());
        Assert.False(File.Exists(absolute));
        Assert.Equal(2, summary.GetProperty("filesDownloaded").GetInt64());
        Assert.Equal(bad.Length, summary.GetProperty("refused").GetInt64());
        var refusals = Strings(summary, "refusals");
        Assert.Contains(refusals, r => r.StartsWith("'../escape.txt'", StringComparison.Ordinal) && r.Contains("'..' segment", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.StartsWith($"'{absolute}'", StringComparison.Ordinal) && r.Contains("Absolute path", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.StartsWith("'a/../../up.txt'", StringComparison.Ordinal) && r.Contains("'..' segment", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.StartsWith("'C:\\x.txt'", StringComparison.Ordinal) && r.Contains("backslash", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.StartsWith("'a\\u0000b.txt'", StringComparison.Ordinal) && r.Contains("control character", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.Contains("NFC", StringComparison.Ordinal));
        Assert.Contains("refused: '../escape.txt'", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_chunk_bytes_and_plans_that_lie_about_sizes_are_refused_and_nothing_is_written_into_place()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        world.AddFile("good.txt", Encoding.UTF8.GetBytes("good"));

        // The node sends other bytes under the chunk's id.
        var wrong = world.AddFile("wrong-bytes.txt", Encoding.UTF8.GetBytes("the real content"));
        var wrongId = wrong.Chunks[0].Id.ToChunkId();
        world.Chunks[wrongId] = (world.Chunks[wrongId].Header, Encoding.UTF8.GetBytes("forged content!!"));

        // The plan's chunk sizes do not add up to the file's size.
        world.AddFile("bad-sum.txt", Encoding.UTF8.GetBytes("12345"));
        world.Plans["bad-sum.txt"].Entry.Size = 10;

        // The node sends a chunk larger than the plan said (header and bytes agree with each other).
        var larger = world.AddFile("larger.txt", Encoding.UTF8.GetBytes("12345"));
        var largerId = larger.Chunks[0].Id.ToChunkId();
        world.Chunks[largerId] = (world.Chunks[largerId].Header.Clone(), Encoding.UTF8.GetBytes("1234567890"));
        world.Chunks[largerId].Header.StoredSize = 10;

        // The node sends more bytes than its own header claims.
        var more = world.AddFile("more-bytes.txt", Encoding.UTF8.GetBytes("12345"));
        var moreId = more.Chunks[0].Id.ToChunkId();
        world.Chunks[moreId] = (world.Chunks[moreId].Header, Encoding.UTF8.GetBytes("1234567890"));

        // A plan whose one chunk claims 2 GiB, and one naming a node that is not an http URL.
        world.AddFile("huge-chunk.txt", Encoding.UTF8.GetBytes("small"));
        world.Plans["huge-chunk.txt"].Chunks[0].Chunk.Size = int.MaxValue;
        world.Plans["huge-chunk.txt"].Entry.Size = int.MaxValue;
        world.AddFile("odd-node.txt", Encoding.UTF8.GetBytes("small"));
        world.Plans["odd-node.txt"].Chunks[0].Nodes[0].GrpcUrl = "file:///etc/passwd";

        await client.LoginAsync();
        var before = client.OutsideTree();

        var (result, summary) = await client.SyncAsync();

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("good", File.ReadAllText(client.PathOf("good.txt")));
        Assert.Equal(["good.txt"], client.FolderTree()); // nothing else placed, no temp file left behind
        Assert.Equal(before, client.OutsideTree());
        Assert.Equal(1, summary.GetProperty("filesDownloaded").GetInt64());
        Assert.Equal(6, summary.GetProperty("errors").GetInt64());
        var errors = string.Join("\n", Strings(summary, "errorMessages"));
        Assert.Contains("does not hash to its id", errors, StringComparison.Ordinal);
        Assert.Contains("add up to 5 bytes but the file is said to be 10", errors, StringComparison.Ordinal);
        Assert.Contains("a chunk is at most", errors, StringComparison.Ordinal);
        Assert.Contains("does not match its header", errors, StringComparison.Ordinal);
        Assert.Contains("not an http(s) URL", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Absurd_times_and_sizes_never_crash_the_client()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        world.AddFile("from-the-dawn-of-time.txt", Encoding.UTF8.GetBytes("min"), mtimeUnixMs: long.MinValue);
        world.AddFile("until-the-end-of-time.txt", Encoding.UTF8.GetBytes("max"), mtimeUnixMs: long.MaxValue);
        world.AddFile("normal.txt", Encoding.UTF8.GetBytes("normal"), mtimeUnixMs: 1_600_000_000_000);
        world.AddFile("enormous.txt", Encoding.UTF8.GetBytes("x"));
        world.Listing[^1].Size = ulong.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            // Several files "just under" the limit in the listing: their sizes summed overflow a long.
            world.AddFile($"big{i}.txt", Encoding.UTF8.GetBytes("y" + i));
            world.Listing[^1].Size = 60_000_000_000_000;
        }

        await client.LoginAsync();
        var startedAt = DateTime.UtcNow.AddMinutes(-1);

        var (result, summary) = await client.SyncAsync();

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("min", File.ReadAllText(client.PathOf("from-the-dawn-of-time.txt")));
        Assert.Equal("max", File.ReadAllText(client.PathOf("until-the-end-of-time.txt")));
        Assert.True(File.GetLastWriteTimeUtc(client.PathOf("from-the-dawn-of-time.txt")) > startedAt);
        Assert.True(File.GetLastWriteTimeUtc(client.PathOf("until-the-end-of-time.txt")) < DateTime.UtcNow.AddMinutes(1));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_600_000_000_000).UtcDateTime, File.GetLastWriteTimeUtc(client.PathOf("normal.txt")));
        Assert.False(File.Exists(client.PathOf("enormous.txt")));
        Assert.Contains(Strings(summary, "refusals"), r => r.StartsWith("'enormous.txt'", StringComparison.Ordinal) && r.Contains("beyond the largest file", StringComparison.Ordinal));
        // The listing's sizes were absurd but the plans honest: the files are what the plans say.
        Assert.Equal("y2", File.ReadAllText(client.PathOf("big2.txt")));

        var ls = await client.RunAsync("ls");
        Assert.True(ls.ExitCode == 0, $"ls failed: {ls}");
        Assert.Contains("from-the-dawn-of-time.txt", ls.Stdout, StringComparison.Ordinal);
        Assert.Contains("?", ls.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_change_feed_that_moves_a_synced_file_out_of_the_folder_deletes_it_here_refuses_the_rest_and_the_cursor_moves_on()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        var synced = world.AddFile("synced.txt", Encoding.UTF8.GetBytes("synced"));
        await client.LoginAsync();
        var (first, _) = await client.SyncAsync();
        Assert.True(first.ExitCode == 0, first.ToString());
        var before = client.OutsideTree();

        var target = Path.Combine(client.Outside, "precious.txt");
        var fresh = world.AddFile("fresh.txt", Encoding.UTF8.GetBytes("fresh"), listed: false, version: 5);
        var escaping = world.AddFile("../feed-escape.txt", Encoding.UTF8.GetBytes("evil"), listed: false, version: 3);
        world.ListChanges = request => request.Cursor == "c1"
            ? new ListChangesResponse
            {
                Cursor = "c2",
                Changes =
                {
                    new Change { Sequence = 2, Kind = ChangeKind.Move, OldPath = "synced.txt", Entry = Moved(synced, "../moved-out.txt", 2) },
                    new Change { Sequence = 3, Kind = ChangeKind.Upsert, Entry = escaping },
                    new Change { Sequence = 4, Kind = ChangeKind.Delete, Entry = new FileEntry { Path = target, Version = 4, Deleted = true } },
                    new Change { Sequence = 5, Kind = ChangeKind.Upsert, Entry = fresh },
                    new Change { Sequence = 6, Kind = ChangeKind.Folder, Entry = new FileEntry { Path = "../newdir", Kind = EntryKind.Folder, Version = 6 } },
                },
            }
            : new ListChangesResponse { Cursor = request.Cursor };

        var (result, summary) = await client.SyncAsync();

        Assert.Equal(1, result.ExitCode);
        // Moved to a refused name: for this client the file left the folder (kept in the trash), nothing went outside.
        Assert.False(File.Exists(client.PathOf("synced.txt")));
        Assert.Equal("fresh", File.ReadAllText(client.PathOf("fresh.txt")));
        Assert.Equal(before, client.OutsideTree());
        Assert.Equal(4, summary.GetProperty("refused").GetInt64());
        Assert.Equal(0, summary.GetProperty("errors").GetInt64());

        var (third, _) = await client.SyncAsync();
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.Equal(["c1", "c2"], world.CursorsAsked.ToArray());
    }

    [Fact]
    public async Task A_folder_that_becomes_a_symbolic_link_during_a_download_is_not_written_through()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        world.AddFile("good.txt", Encoding.UTF8.GetBytes("good"));
        world.AddFile("race/evil.txt", Encoding.UTF8.GetBytes("evil"));
        world.AddFile("link/evil.txt", Encoding.UTF8.GetBytes("evil"));
        Directory.CreateSymbolicLink(client.PathOf("link"), client.Outside);
        world.OnDownloadPlan = path =>
        {
            if (path == "race/evil.txt" && !Path.Exists(client.PathOf("race")))
            {
                // Between the scan and the write, the folder the file goes into turns into a link to elsewhere.
                Directory.CreateSymbolicLink(client.PathOf("race"), client.Outside);
            }
        };
        await client.LoginAsync();
        var before = client.OutsideTree();

        var (result, summary) = await client.SyncAsync();

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("good", File.ReadAllText(client.PathOf("good.txt")));
        Assert.Equal(before, client.OutsideTree());
        Assert.Contains(Strings(summary, "errorMessages"), e => e.Contains("'race/evil.txt'", StringComparison.Ordinal) && e.Contains("'race' is a symbolic link", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_folder_that_becomes_a_symbolic_link_while_the_bytes_come_in_is_not_renamed_through()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        var entry = world.AddFile("mid/evil.txt", Encoding.UTF8.GetBytes("evil, late"));
        var id = entry.Chunks[0].Id.ToChunkId();
        world.OnGetChunk = chunk =>
        {
            if (chunk == id && !File.Exists(Path.Combine(client.Root, "mid-aside")))
            {
                // The client already made the folder and opened its temp file in it: swap the folder for a link.
                Directory.Move(client.PathOf("mid"), Path.Combine(client.Root, "mid-aside"));
                Directory.CreateSymbolicLink(client.PathOf("mid"), client.Outside);
            }
        };
        await client.LoginAsync();
        var before = client.OutsideTree().Where(p => !p.StartsWith("mid-aside", StringComparison.Ordinal)).ToArray();

        var (result, summary) = await client.SyncAsync();

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(before, client.OutsideTree().Where(p => !p.StartsWith("mid-aside", StringComparison.Ordinal)).ToArray());
        Assert.Contains(Strings(summary, "errorMessages"), e => e.Contains("mid/evil.txt", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(client.Outside, "evil.txt")));
    }

    [Fact]
    public async Task Endless_pages_end_the_pass_with_a_clear_error_instead_of_looping()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        var page = world.AddFile("page.txt", Encoding.UTF8.GetBytes("same page forever"));
        world.ListFiles = _ => new ListFilesResponse { Cursor = "c1", HasMore = true, Entries = { page } };
        await client.LoginAsync();

        var (listing, listingSummary) = await client.SyncAsync();

        Assert.Equal(1, listing.ExitCode);
        Assert.True(world.ListFilesCalls <= 3, $"{world.ListFilesCalls} ListFiles calls");
        Assert.Contains("not after the previous page", listing.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, listingSummary.GetProperty("errors").GetInt64());

        // A first listing that ends, then a feed that always says "more" and never moves on.
        world.ListFiles = null;
        Assert.Equal(0, (await client.SyncAsync()).Result.ExitCode);
        var n = 0;
        world.ListChanges = r => new ListChangesResponse { Cursor = "c" + Interlocked.Increment(ref n), HasMore = true };

        var (feed, _) = await client.SyncAsync();

        Assert.Equal(1, feed.ExitCode);
        Assert.True(world.ListChangesCalls <= 3, $"{world.ListChangesCalls} ListChanges calls");
        Assert.Contains("said more changes follow", feed.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_plans_that_ask_for_foreign_chunks_or_name_odd_nodes_are_refused_per_file()
    {
        await using var server = await HostileServer.StartAsync();
        var client = new HostileClient(_dir, server);
        var world = server.World;
        var foreign = Dropbox.Shared.Chunks.ChunkId.Compute("not in any file here"u8).ToByteString();
        world.PlanUpload = request => new PlanUploadResponse
        {
            Missing =
            {
                request.Path.StartsWith("foreign", StringComparison.Ordinal)
                    ? new ChunkPut { ChunkId = foreign, Node = new ChunkLocation { GrpcUrl = world.StorageUrl }, Token = "t" }
                    : new ChunkPut { ChunkId = request.Chunks[0].Id, Node = new ChunkLocation { GrpcUrl = "file:///etc/passwd" }, Token = "t" },
            },
        };
        await client.LoginAsync();
        File.WriteAllText(client.PathOf("foreign1.txt"), "one");
        File.WriteAllText(client.PathOf("foreign2.txt"), "two");
        File.WriteAllText(client.PathOf("odd-node.txt"), "three");
        File.SetLastWriteTimeUtc(client.PathOf("foreign1.txt"), DateTime.UtcNow.AddMinutes(-5));
        File.SetLastWriteTimeUtc(client.PathOf("foreign2.txt"), DateTime.UtcNow.AddMinutes(-5));
        File.SetLastWriteTimeUtc(client.PathOf("odd-node.txt"), DateTime.UtcNow.AddMinutes(-5));

        var (result, summary) = await client.SyncAsync();

        Assert.Equal(1, result.ExitCode);
        var errors = Strings(summary, "errorMessages");
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("'foreign1.txt': it asks for a chunk the file does not have", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'odd-node.txt': it names a storage node at 'file:///etc/passwd'", StringComparison.Ordinal));
    }

    private static FileEntry Moved(FileEntry entry, string path, ulong version)
    {
        var moved = entry.Clone();
        moved.Path = path;
        moved.Version = version;
        return moved;
    }

    private static List<string> Strings(JsonElement summary, string property) =>
        summary.TryGetProperty(property, out var list) ? [.. list.EnumerateArray().Select(e => e.GetString()!)] : [];
}
