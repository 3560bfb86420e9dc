using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;
using Dropbox.SyncClient.Tests.Contract;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A file on one device and a folder on another at the same path (issue 14), through two real clients against a real
/// metadata node and storage node: no byte is lost, both sides are kept (the local side as a conflicted copy when it
/// changed), and the devices converge.
/// </summary>
public sealed class KindConflictTests(RealNodes nodes) : IClassFixture<RealNodes>, IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose()
    {
        foreach (var d in _devices)
        {
            d.Dispose();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task A_file_edited_here_while_another_device_made_it_a_folder_is_kept_as_a_conflicted_copy_and_the_folder_comes_down()
    {
        var (a, b) = await TwoSyncedDevicesAsync(d => d.Write("y.dat", "original"));
        a.Write("y.dat", "edited on a");
        await ReplaceFileWithFolderAsync(b);

        var passes = await SyncAllAsync(a, b);

        AssertClean(passes);
        Assert.Equal("b's folder", a.Read("y.dat/inner.txt"));
        var copy = Assert.Single(ConflictedCopies(a));
        Assert.StartsWith("y (conflicted copy a ", copy, StringComparison.Ordinal);
        Assert.EndsWith(".dat", copy, StringComparison.Ordinal);
        Assert.Equal("edited on a", a.Read(copy));
        await AssertConvergedAsync(a, b);
    }

    [Fact]
    public async Task A_file_unchanged_here_that_another_device_made_a_folder_is_replaced_by_the_folder_without_a_copy()
    {
        var (a, b) = await TwoSyncedDevicesAsync(d => d.Write("y.dat", "original"));
        await ReplaceFileWithFolderAsync(b);

        var passes = await SyncAllAsync(a, b);

        AssertClean(passes);
        Assert.Equal("b's folder", a.Read("y.dat/inner.txt"));
        Assert.Empty(ConflictedCopies(a));
        await AssertConvergedAsync(a, b);
    }

    [Fact]
    public async Task A_folder_edited_here_while_another_device_made_it_a_file_keeps_the_edit_as_a_conflicted_copy_and_the_file_comes_down()
    {
        var (a, b) = await TwoSyncedDevicesAsync(d =>
        {
            d.Write("y.dat/inner.txt", "original");
            d.Write("y.dat/other.txt", "untouched");
        });
        a.Write("y.dat/inner.txt", "edited on a");
        await ReplaceFolderWithFileAsync(b);

        var passes = await SyncAllAsync(a, b);

        AssertClean(passes);
        Assert.Equal("b's file", a.Read("y.dat"));
        Assert.Contains(AllFiles(a), f => f.Value == "edited on a" && ConflictNames.IsConflictedCopy(f.Key));
        Assert.DoesNotContain(AllFiles(a), f => f.Value == "untouched"); // deleted with the folder on b, unchanged here: not brought back
        await AssertConvergedAsync(a, b);
    }

    [Fact]
    public async Task A_folder_unchanged_here_that_another_device_made_a_file_is_replaced_by_the_file_without_a_copy()
    {
        var (a, b) = await TwoSyncedDevicesAsync(d => d.Write("y.dat/inner.txt", "original"));
        await ReplaceFolderWithFileAsync(b);

        var passes = await SyncAllAsync(a, b);

        AssertClean(passes);
        Assert.Equal("b's file", a.Read("y.dat"));
        Assert.DoesNotContain(AllFiles(a), f => ConflictNames.IsConflictedCopy(f.Key));
        await AssertConvergedAsync(a, b);
    }

    [Fact]
    public async Task A_new_file_here_where_another_device_made_a_new_folder_is_kept_as_a_conflicted_copy_and_the_folder_comes_down()
    {
        var (a, b) = await TwoSyncedDevicesAsync(_ => { });
        a.Write("y.dat", "new on a");
        b.Write("y.dat/inner.txt", "new folder on b");
        await SyncCleanAsync(b);

        var passes = await SyncAllAsync(a, b);

        AssertClean(passes);
        Assert.Equal("new folder on b", a.Read("y.dat/inner.txt"));
        var copy = Assert.Single(ConflictedCopies(a));
        Assert.StartsWith("y (conflicted copy a ", copy, StringComparison.Ordinal);
        Assert.Equal("new on a", a.Read(copy));
        await AssertConvergedAsync(a, b);
    }

    [Fact]
    public async Task A_new_folder_here_where_another_device_made_a_new_file_is_kept_as_a_conflicted_copy_and_the_file_comes_down()
    {
        var (a, b) = await TwoSyncedDevicesAsync(_ => { });
        a.Write("y.dat/inner.txt", "new folder on a");
        b.Write("y.dat", "new on b");
        await SyncCleanAsync(b);

        var passes = await SyncAllAsync(a, b);

        AssertClean(passes);
        Assert.Equal("new on b", a.Read("y.dat"));
        Assert.Contains(AllFiles(a), f => f.Value == "new folder on a" && ConflictNames.IsConflictedCopy(f.Key));
        await AssertConvergedAsync(a, b);
    }

    [Fact]
    public async Task A_synced_file_replaced_here_by_a_folder_in_one_pass_is_deleted_on_the_server_and_the_folder_goes_up()
    {
        var (a, b) = await TwoSyncedDevicesAsync(d => d.Write("y.dat", "original"));
        File.Delete(a.PathOf("y.dat"));
        a.Write("y.dat/inner.txt", "a's folder");

        var passes = await SyncAllAsync(a, b);

        AssertClean(passes);
        Assert.Equal("a's folder", b.Read("y.dat/inner.txt"));
        Assert.Empty(ConflictedCopies(a));
        await AssertConvergedAsync(a, b);
    }

    /// <summary>Two devices of a new user, both synced with what <paramref name="arrange"/> wrote on the first (and a file that keeps the folder non-empty).</summary>
    private async Task<(RealNodeDevice A, RealNodeDevice B)> TwoSyncedDevicesAsync(Action<RealNodeDevice> arrange)
    {
        var token = nodes.NewUserToken();
        var a = new RealNodeDevice(_dir, "a", token);
        var b = new RealNodeDevice(_dir, "b", token);
        _devices.Add(a);
        _devices.Add(b);
        a.Write("keep.txt", "so the folder is never empty");
        arrange(a);
        await SyncCleanAsync(a);
        await SyncCleanAsync(b);
        return (a, b);
    }

    private readonly List<RealNodeDevice> _devices = [];

    /// <summary>On <paramref name="b"/>: the file y.dat deleted and synced, then a folder y.dat/ with a file in it, synced.</summary>
    private async Task ReplaceFileWithFolderAsync(RealNodeDevice b)
    {
        File.Delete(b.PathOf("y.dat"));
        await SyncCleanAsync(b);
        b.Write("y.dat/inner.txt", "b's folder");
        await SyncCleanAsync(b);
    }

    /// <summary>On <paramref name="b"/>: the folder y.dat/ deleted and synced, then a file y.dat, synced.</summary>
    private async Task ReplaceFolderWithFileAsync(RealNodeDevice b)
    {
        Directory.Delete(b.PathOf("y.dat"), recursive: true);
        await SyncCleanAsync(b);
        b.Write("y.dat", "b's file");
        await SyncCleanAsync(b);
    }

    private async Task SyncCleanAsync(RealNodeDevice d) => AssertClean([(d.Name, await d.SyncAsync(nodes.Url))]);

    /// <summary>A's passes (two: what one pass leaves to the next must be done by then), then B's, then A's last.</summary>
    private async Task<List<(string Name, SyncSummary Pass)>> SyncAllAsync(RealNodeDevice a, RealNodeDevice b) =>
    [
        (a.Name, await a.SyncAsync(nodes.Url)),
        (a.Name, await a.SyncAsync(nodes.Url)),
        (b.Name, await b.SyncAsync(nodes.Url)),
        (b.Name, await b.SyncAsync(nodes.Url)),
        (a.Name, await a.SyncAsync(nodes.Url)),
    ];

    private static void AssertClean(List<(string Name, SyncSummary Pass)> passes)
    {
        var errors = passes.SelectMany(p => p.Pass.ErrorMessages.Select(m => $"{p.Name}: {m}")).ToList();
        var skips = passes.SelectMany(p => p.Pass.Notes.Where(n => n.StartsWith("skipped", StringComparison.Ordinal)).Select(n => $"{p.Name}: {n}")).ToList();
        Assert.True(errors.Count + skips.Count == 0, "errors: " + string.Join(" | ", errors) + " skips: " + string.Join(" | ", skips));
    }

    private static List<string> ConflictedCopies(RealNodeDevice d) => AllFiles(d).Keys.Where(ConflictNames.IsConflictedCopy).ToList();

    /// <summary>Every file under the device's folder (relative '/' path to text), without the client's folder marker.</summary>
    private static SortedDictionary<string, string> AllFiles(RealNodeDevice d) => new(
        TestClient.FilesIn(d.Folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(d.Folder, f).Replace('\\', '/'), File.ReadAllText), StringComparer.Ordinal);

    /// <summary>Both folders hold the same files, and the server holds each of them with the same size.</summary>
    private async Task AssertConvergedAsync(RealNodeDevice a, RealNodeDevice b)
    {
        var files = AllFiles(a);
        Assert.Equal(files, AllFiles(b));
        var listed = await a.Remote(nodes.Url).ListFilesAsync(new ListFilesRequest(), CancellationToken.None);
        var live = listed.Entries.Where(e => e.Kind == EntryKind.File).ToDictionary(e => e.Path, e => (long)e.Size, StringComparer.Ordinal);
        Assert.Equal(files.ToDictionary(f => f.Key, f => (long)System.Text.Encoding.UTF8.GetByteCount(f.Value), StringComparer.Ordinal), live);
    }
}
