using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A batch of downloads makes and renames its files in folders it opened once, without following a link
/// (<see cref="FolderHandles"/>), instead of looking at every path for links: nothing is ever written through a link,
/// whether it was on the way before the batch began, put at a folder's name while the bytes came in, or at a file's name.
/// </summary>
public sealed class BatchFolderHandleTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static readonly string[] Paths = ["docs/one.txt", "docs/two.txt", "other/three.txt", "four.txt"];

    private async Task UploadAsync()
    {
        using var a = new TestClient(_dir, "a", _server);
        foreach (var path in Paths)
        {
            a.Write(path, "bytes of " + path);
        }

        Assert.Equal(0, (await a.SyncAsync()).Errors);
    }

    private static List<(string, long)> Files() => Paths.Select(p => (p, (long)("bytes of " + p).Length)).ToList();

    [Fact]
    public async Task A_folder_swapped_for_a_link_to_outside_while_its_files_came_in_is_never_written_through()
    {
        if (!FolderHandle.Supported)
        {
            return; // the batch then checks each path for links, as FileDownloaderTests show
        }

        await UploadAsync();
        using var b = new TestClient(_dir, "b", _server);
        var outside = _dir.CreateSub("outside");
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            // After the bytes are durable, before the first rename: the folder moved away and a link to outside put at its name.
            if (staged.Path.StartsWith("docs/", StringComparison.Ordinal) && !Directory.Exists(b.PathOf("docs-moved")))
            {
                Directory.Move(b.PathOf("docs"), b.PathOf("docs-moved"));
                Directory.CreateSymbolicLink(b.PathOf("docs"), outside);
            }

            return Task.CompletedTask;
        };

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        Assert.Empty(Directory.GetFileSystemEntries(outside)); // nothing, not even a temp file, went through the link
        Assert.NotNull(new FileInfo(b.PathOf("docs")).LinkTarget);

        // The renames named the folder that was opened: the files are in it, under its new name, whole.
        Assert.Equal("bytes of docs/one.txt", b.Read("docs-moved/one.txt"));
        Assert.Equal("bytes of docs/two.txt", b.Read("docs-moved/two.txt"));
        Assert.Equal("bytes of other/three.txt", b.Read("other/three.txt"));
        Assert.Equal("bytes of four.txt", b.Read("four.txt"));
        Assert.Empty(Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_link_put_at_a_file_name_before_its_rename_is_refused_left_alone_and_its_target_untouched()
    {
        await UploadAsync();
        using var b = new TestClient(_dir, "b", _server);
        var outside = _dir.CreateSub("outside");
        var target = Path.Combine(outside, "target.txt");
        File.WriteAllText(target, "not the user's synced file");
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            if (staged.Path == "docs/one.txt")
            {
                File.CreateSymbolicLink(staged.Full, target);
            }

            return Task.CompletedTask;
        };

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        Assert.Equal(1, summary.Errors);
        Assert.Contains("symbolic link", Assert.Single(summary.ErrorMessages), StringComparison.Ordinal);
        Assert.NotNull(new FileInfo(b.PathOf("docs/one.txt")).LinkTarget); // left where it was, not moved aside
        Assert.Equal("not the user's synced file", File.ReadAllText(target));
        Assert.Equal(["target.txt"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.Null(b.State.GetFile("docs/one.txt"));
        Assert.Equal("bytes of docs/two.txt", b.Read("docs/two.txt"));
        Assert.Equal(0, summary.Conflicts);
    }

    [Fact]
    public async Task A_folder_that_is_a_link_before_the_batch_begins_is_refused_with_the_path_check_words_and_nothing_is_made_in_its_target()
    {
        await UploadAsync();
        using var b = new TestClient(_dir, "b", _server);
        var outside = _dir.CreateSub("outside");
        Directory.CreateSymbolicLink(b.PathOf("docs"), outside);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        Assert.Equal(2, summary.Errors);
        Assert.All(summary.ErrorMessages, m => Assert.Contains("'docs' is a symbolic link on disk", m, StringComparison.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.Equal("bytes of other/three.txt", b.Read("other/three.txt"));
        Assert.Equal("bytes of four.txt", b.Read("four.txt"));
    }

    [Fact]
    public void Folders_are_opened_without_following_a_link_made_where_missing_and_a_file_on_the_way_is_not_a_folder()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        var root = _dir.CreateSub("root");
        var outside = _dir.CreateSub("outside");
        Directory.CreateSymbolicLink(Path.Combine(root, "link"), outside);
        File.WriteAllText(Path.Combine(root, "file"), "a file");
        using var folders = FolderHandles.TryOpen(root)!;
        var madeIn = new List<string>();

        Assert.Null(folders.Get("link", madeIn));
        Assert.Null(folders.Get("link/below", madeIn));
        Assert.Null(folders.Get("file/below", madeIn));
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.Empty(madeIn);

        var made = folders.Get("new/deeper", madeIn);
        Assert.NotNull(made);
        Assert.True(Directory.Exists(Path.Combine(root, "new", "deeper")));
        Assert.Equal([Path.GetFullPath(root), Path.Combine(Path.GetFullPath(root), "new")], madeIn);
        using (var file = made!.CreateNew("x"))
        {
            RandomAccess.Write(file, "abc"u8, 0);
        }

        Assert.Equal(Shared.IO.RenameOutcome.Done, made.MoveNew("x", "y"));
        Assert.Equal("abc", File.ReadAllText(Path.Combine(root, "new", "deeper", "y")));
        File.WriteAllText(Path.Combine(root, "new", "deeper", "z"), "there first");
        using (made.CreateNew("x2"))
        {
        }

        Assert.Equal(Shared.IO.RenameOutcome.DestinationExists, made.MoveNew("x2", "z"));
        Assert.Equal("there first", File.ReadAllText(Path.Combine(root, "new", "deeper", "z")));
        Assert.ThrowsAny<IOException>(() => made.CreateNew("z"));

        // Folders walked through are not kept: a sibling deep below is reached again from the nearest folder kept.
        madeIn.Clear();
        Assert.NotNull(folders.Get("p/q/r/s", madeIn));
        Assert.Equal(4, madeIn.Count);
        madeIn.Clear();
        Assert.NotNull(folders.Get("p/q/x", madeIn));
        Assert.Equal([Path.Combine(Path.GetFullPath(root), "p", "q")], madeIn);
        madeIn.Clear();
        Assert.NotNull(folders.Get("new/deeper/more", madeIn));
        Assert.Equal([Path.Combine(Path.GetFullPath(root), "new", "deeper")], madeIn);
        Directory.Delete(Path.Combine(root, "p", "q", "r"), recursive: true);
        Directory.CreateSymbolicLink(Path.Combine(root, "p", "q", "r"), outside);
        Assert.Null(folders.Get("p/q/r/t", madeIn));
        Assert.Empty(Directory.GetFileSystemEntries(outside));
    }
}
