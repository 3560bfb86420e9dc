using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// After a batch's renames, the steps that still touch its folders go through the folders it opened, never by path: the
/// cleanup of a temp file that was not placed, the moving aside of a user's file at the name, and the folder sync before
/// the record; and a file is recorded only while its path still leads to the folder it was renamed into. A folder moved
/// or swapped for a link meanwhile costs only its own files' records, and the next pass sorts them out without loss.
/// </summary>
public sealed class BatchHeldFolderTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static readonly string[] Paths = ["docs/one.txt", "docs/two.txt", "four.txt"];

    private async Task UploadAsync(params string[] paths)
    {
        using var a = new TestClient(_dir, "a", _server);
        foreach (var path in paths.Length == 0 ? Paths : paths)
        {
            a.Write(path, "bytes of " + path);
        }

        Assert.Equal(0, (await a.SyncAsync()).Errors);
    }

    private static List<(string, long)> Files(params string[] paths) => (paths.Length == 0 ? Paths : paths).Select(p => (p, (long)("bytes of " + p).Length)).ToList();

    private static (ulong, ulong) IdentityOf(string root, string relative)
    {
        using var folders = FolderHandles.TryOpen(root)!;
        return folders.Get(relative, [])!.TryIdentity()!.Value;
    }

    /// <summary>
    /// The folder is swapped for a link (files then go to the opened folder, as designed) and a user file sits at one
    /// name in the moved folder: that file is refused (link on the way), and its temp file is removed from the folder it
    /// was made in; by path the delete went through the link (a file of the temp's name outside deleted, the temp left).
    /// </summary>
    [Fact]
    public async Task Cleanup_of_a_refused_temp_never_deletes_through_a_link()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        await UploadAsync();
        using var b = new TestClient(_dir, "b", _server);
        var outside = _dir.CreateSub("outside");
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        string? planted = null;
        downloader.BeforeRename = staged =>
        {
            if (staged.Path == "docs/one.txt")
            {
                Directory.Move(b.PathOf("docs"), b.PathOf("docs-moved"));
                Directory.CreateSymbolicLink(b.PathOf("docs"), outside);
                File.WriteAllText(b.PathOf("docs-moved/one.txt"), "the user's own file");
                planted = Path.Combine(outside, Path.GetFileName(staged.Temp));
                File.WriteAllText(planted, "a file outside the sync folder");
            }

            return Task.CompletedTask;
        };

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        Assert.Equal("the user's own file", b.Read("docs-moved/one.txt"));
        Assert.NotNull(planted);
        Assert.True(File.Exists(planted), "the cleanup deleted a file outside the sync folder, through the link 'docs'");
        Assert.Empty(Directory.GetFiles(b.PathOf("docs-moved"), IgnoreMatcher.TempPrefix + "*"));
    }

    /// <summary>
    /// The same swap: the renames land in the opened (moved) folder, which is the one synced (by path the sync opened the
    /// link's target outside); and its files are not recorded, as their path now leads through the link.
    /// </summary>
    [Fact]
    public async Task The_folder_synced_before_the_record_is_the_one_the_renames_went_into()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        await UploadAsync();
        var barrier = new IdentityBarrier();
        using var b = new TestClient(_dir, "b", _server, barrier: barrier);
        var outside = _dir.CreateSub("outside");
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            if (staged.Path.StartsWith("docs/", StringComparison.Ordinal) && !Directory.Exists(b.PathOf("docs-moved")))
            {
                Directory.Move(b.PathOf("docs"), b.PathOf("docs-moved"));
                Directory.CreateSymbolicLink(b.PathOf("docs"), outside);
            }

            return Task.CompletedTask;
        };

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        Assert.Equal("bytes of docs/one.txt", b.Read("docs-moved/one.txt"));
        Assert.True(
            barrier.Synced.Contains(IdentityOf(b.Folder, "docs-moved")),
            $"docs-moved (the folder the renames went into) was never synced; synced by path: [{string.Join(", ", barrier.SyncedByPath)}]");
        Assert.Null(b.State.GetFile("docs/one.txt"));
        Assert.Null(b.State.GetFile("docs/two.txt"));
        Assert.NotNull(b.State.GetFile("four.txt"));
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.Contains(summary.ErrorMessages, m => m.Contains("docs/one.txt", StringComparison.Ordinal) && m.Contains("no longer at 'docs'", StringComparison.Ordinal));
    }

    /// <summary>
    /// A folder renamed by the user while the batch is at its barrier (no link): the renames go into it under its new
    /// name, its files are left unrecorded, and the batch's other files are recorded (by path, the sync of the old name
    /// failed every placed file of the batch).
    /// </summary>
    [Fact]
    public async Task A_folder_renamed_mid_batch_fails_only_its_own_files()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        await UploadAsync();
        using var b = new TestClient(_dir, "b", _server);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            if (staged.Path.StartsWith("docs/", StringComparison.Ordinal) && !Directory.Exists(b.PathOf("docs-moved")))
            {
                Directory.Move(b.PathOf("docs"), b.PathOf("docs-moved"));
            }

            return Task.CompletedTask;
        };

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        Assert.Equal("bytes of four.txt", b.Read("four.txt"));
        Assert.True(b.State.GetFile("four.txt") is not null, $"four.txt in place but not recorded; errors: {string.Join(" | ", summary.ErrorMessages)}");
        Assert.Null(b.State.GetFile("docs/one.txt"));
        Assert.Equal(2, summary.Errors);
    }

    /// <summary>
    /// A whole pass whose folder is renamed at the batch's barrier leaves that folder's files placed but unrecorded; the
    /// next passes take them as new local files and the remote ones as missing here: every version ends up on the server
    /// and on both devices, and a further pass has nothing to do.
    /// </summary>
    [Fact]
    public async Task Files_left_unrecorded_in_a_moved_folder_converge_on_the_next_pass_without_loss()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        await UploadAsync();
        var barrier = new IdentityBarrier();
        using var b = new TestClient(_dir, "b", _server, barrier: barrier);
        barrier.BeforeFiles = () =>
        {
            if (Directory.Exists(b.PathOf("docs")) && !Directory.Exists(b.PathOf("docs-moved")))
            {
                Directory.Move(b.PathOf("docs"), b.PathOf("docs-moved"));
            }
        };

        var first = await b.SyncAsync();
        barrier.BeforeFiles = null;
        Assert.Equal("bytes of docs/one.txt", b.Read("docs-moved/one.txt"));

        var second = await b.SyncAsync();
        Assert.Equal(0, second.Errors);
        var third = await b.SyncAsync();
        Assert.Equal(0, third.Errors);
        Assert.Equal(0, third.FilesDownloaded);

        using var a = new TestClient(_dir, "a", _server);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        foreach (var name in new[] { "one.txt", "two.txt" })
        {
            // The remote file is never taken for deleted here (its record would have named a file that was not there).
            Assert.True(_server.Current("docs/" + name) is { Deleted: false }, $"the remote 'docs/{name}' was deleted after the folder's move");
            Assert.Equal("bytes of docs/" + name, b.Read("docs/" + name));
            Assert.Equal("bytes of docs/" + name, a.Read("docs/" + name));
            Assert.Equal("bytes of docs/" + name, b.Read("docs-moved/" + name));
            Assert.Equal("bytes of docs/" + name, a.Read("docs-moved/" + name));
            Assert.NotNull(_server.Current("docs-moved/" + name));
            Assert.NotNull(b.State.GetFile("docs-moved/" + name));
        }

        Assert.Equal("bytes of four.txt", a.Read("four.txt"));
        Assert.Equal(2, first.Errors);
    }

    /// <summary>
    /// A user's file at the name is moved aside in the folder the download goes into, as opened: a folder swapped for a
    /// link after the checks does not send the rename outside (by path it renamed a file in the link's target).
    /// </summary>
    [Fact]
    public async Task A_file_in_the_way_is_moved_aside_in_the_opened_folder_not_through_a_link()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        await UploadAsync();
        using var b = new TestClient(_dir, "b", _server);
        var outside = _dir.CreateSub("outside");
        File.WriteAllText(Path.Combine(outside, "one.txt"), "a file outside the sync folder");
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            if (staged.Path == "docs/one.txt")
            {
                File.WriteAllText(b.PathOf("docs/one.txt"), "the user's own file");
            }

            return Task.CompletedTask;
        };
        downloader.BeforeMoveAside = path =>
        {
            Directory.Move(b.PathOf("docs"), b.PathOf("docs-moved"));
            Directory.CreateSymbolicLink(b.PathOf("docs"), outside);
        };

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        var there = Directory.GetFileSystemEntries(outside).Select(Path.GetFileName).ToList();
        Assert.True(there is ["one.txt"], $"a file outside the sync folder was moved aside through the link 'docs': outside holds [{string.Join(", ", there)}]");
        Assert.Equal("a file outside the sync folder", File.ReadAllText(Path.Combine(outside, "one.txt")));
        Assert.Equal("the user's own file", b.Read("docs-moved/one.txt.conflict"));
        Assert.Equal("bytes of docs/one.txt", b.Read("docs-moved/one.txt"));
        Assert.Null(b.State.GetFile("docs/one.txt"));
    }

    /// <summary>
    /// A folder made by an earlier file of the batch that then fails still has its entry synced (in the folder that holds
    /// it) before a later file in it, which needed no folder made, is recorded.
    /// </summary>
    [Fact]
    public async Task A_new_folder_made_by_a_file_that_failed_is_synced_before_a_later_file_in_it_is_recorded()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        string[] paths = ["new/a.txt", "new/sub/b.txt"];
        await UploadAsync(paths);
        var barrier = new IdentityBarrier();
        using var b = new TestClient(_dir, "b", _server, barrier: barrier);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged => staged.Path == "new/a.txt" ? throw new IOException("simulated: a.txt failed") : Task.CompletedTask;

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(paths), CancellationToken.None);

        Assert.NotNull(b.State.GetFile("new/sub/b.txt"));
        Assert.Null(b.State.GetFile("new/a.txt"));
        Assert.True(
            barrier.Synced.Contains(IdentityOf(b.Folder, string.Empty)),
            $"the sync folder (which holds the new folder 'new') was not synced before 'new/sub/b.txt' was recorded; synced by path: [{string.Join(", ", barrier.SyncedByPath)}]");
        Assert.Contains(IdentityOf(b.Folder, "new"), barrier.Synced);
        Assert.Contains(IdentityOf(b.Folder, "new/sub"), barrier.Synced);
    }

    /// <summary>A folder whose sync fails fails only the files renamed into it; the batch's others are recorded.</summary>
    [Fact]
    public async Task A_folder_whose_sync_fails_fails_only_its_own_files()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        await UploadAsync();
        var barrier = new IdentityBarrier { FailFolder = f => f.FullPath.EndsWith("/docs", StringComparison.Ordinal) };
        using var b = new TestClient(_dir, "b", _server, barrier: barrier);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");

        _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(Files(), CancellationToken.None);

        Assert.True(b.State.GetFile("four.txt") is not null, $"four.txt not recorded; errors: {string.Join(" | ", summary.ErrorMessages)}");
        Assert.Null(b.State.GetFile("docs/one.txt"));
        Assert.Null(b.State.GetFile("docs/two.txt"));
        Assert.Equal(2, summary.Errors);
        Assert.All(summary.ErrorMessages, m => Assert.Contains("simulated: docs refused its sync", m, StringComparison.Ordinal));
        Assert.Equal("bytes of docs/one.txt", b.Read("docs/one.txt"));
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a\0b")]
    public void A_folder_handle_refuses_anything_but_one_plain_name(string name)
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        var root = _dir.CreateSub("root");
        Directory.CreateDirectory(Path.Combine(root, "a", "b"));
        using var folder = FolderHandle.TryOpenRoot(root)!;

        Assert.Contains("not one plain name", Assert.Throws<ArgumentException>(() => folder.TryOpenChild(name, out _)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => folder.CreateNew(name));
        Assert.Throws<ArgumentException>(() => folder.MakeFolder(name));
        Assert.Throws<ArgumentException>(() => folder.MoveNew(name, "x"));
        Assert.Throws<ArgumentException>(() => folder.MoveNew("x", name));
        Assert.Throws<ArgumentException>(() => folder.TryDelete(name));
        Assert.Equal(["a"], Directory.GetFileSystemEntries(root).Select(Path.GetFileName));
        Assert.Equal(["b"], Directory.GetFileSystemEntries(Path.Combine(root, "a")).Select(Path.GetFileName));
    }

    /// <summary>The real barrier, noting which folders it synced: by identity (open folders) and by real path.</summary>
    private sealed class IdentityBarrier : IDurabilityBarrier
    {
        public List<(ulong, ulong)> Synced { get; } = [];

        public List<string> SyncedByPath { get; } = [];

        public Action? BeforeFiles { get; set; }

        public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files)
        {
            BeforeFiles?.Invoke();
            DurabilityBarrier.Default.FlushFiles(folder, files);
        }

        public void FlushDirectories(IReadOnlyCollection<string> directories)
        {
            lock (Synced)
            {
                SyncedByPath.AddRange(directories.Select(d => Directory.Exists(d) ? DirectorySync.RealPath(d) : d + " (gone)"));
                foreach (var directory in directories.Where(Directory.Exists))
                {
                    Synced.Add(IdentityOf(directory, string.Empty));
                }
            }

            DurabilityBarrier.Default.FlushDirectories(directories);
        }

        public Func<FolderHandle, bool>? FailFolder { get; set; }

        public IReadOnlyList<Exception?> FlushFolders(IReadOnlyList<FolderHandle> folders)
        {
            lock (Synced)
            {
                Synced.AddRange(folders.Select(f => f.TryIdentity()!.Value));
            }

            return DurabilityBarrier.FlushEach(folders).Select((failure, i) => FailFolder?.Invoke(folders[i]) == true ? new IOException("simulated: docs refused its sync") : failure).ToList();
        }
    }
}
