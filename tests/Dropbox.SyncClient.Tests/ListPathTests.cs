using System.Text.Json;
using Dropbox.SyncClient.Cli;
using Dropbox.SyncClient.Tests.Contract;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// <c>ls PATH</c> through the client's entry against a real metadata node: a folder lists what is under it, a file lists
/// that one file (as <c>ls</c> does), and a path that is not there is an error.
/// </summary>
public sealed class ListPathTests(RealNodes nodes) : IClassFixture<RealNodes>, IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Ls_of_a_file_lists_that_file_a_folder_what_is_under_it_and_a_missing_path_is_an_error()
    {
        // Arrange: a linked folder with a file at the top and one in a subfolder, synced (one deleted after).
        var state = _dir.Sub("state");
        var folder = _dir.CreateSub("folder");
        var login = await InProcessClient.RunAsync(["login", "--server", nodes.Url, "--token", nodes.NewUserToken(), "--folder", folder, "--state", state]);
        Assert.True(login.Code == ExitCodes.Ok, login.Err);
        await File.WriteAllTextAsync(Path.Combine(folder, "a.txt"), "twelve bytes");
        Directory.CreateDirectory(Path.Combine(folder, "docs"));
        await File.WriteAllTextAsync(Path.Combine(folder, "docs", "b.txt"), "b");
        await File.WriteAllTextAsync(Path.Combine(folder, "gone.txt"), "gone");
        Directory.CreateDirectory(Path.Combine(folder, "empty"));
        var sync = await InProcessClient.RunAsync(["sync", "--once", "--stable-age", "0", "--state", state]);
        Assert.True(sync.Code == ExitCodes.Ok, sync.Err);
        File.Delete(Path.Combine(folder, "gone.txt"));
        sync = await InProcessClient.RunAsync(["sync", "--once", "--stable-age", "0", "--state", state]);
        Assert.True(sync.Code == ExitCodes.Ok, sync.Err);

        // Act
        var file = await InProcessClient.RunAsync(["ls", "a.txt", "--state", state]);
        var fileJson = await InProcessClient.RunAsync(["ls", "/a.txt", "--json", "--state", state]);
        var nested = await InProcessClient.RunAsync(["ls", "docs/b.txt", "--state", state]);
        var folderListing = await InProcessClient.RunAsync(["ls", "docs", "--state", state]);
        var deleted = await InProcessClient.RunAsync(["ls", "gone.txt", "--deleted", "--state", state]);
        var deletedLive = await InProcessClient.RunAsync(["ls", "gone.txt", "--state", state]);
        var missing = await InProcessClient.RunAsync(["ls", "no-such.txt", "--state", state]);
        var empty = await InProcessClient.RunAsync(["ls", "empty", "--state", state]);
        var liveAsDeleted = await InProcessClient.RunAsync(["ls", "a.txt", "--deleted", "--state", state]);

        // Assert: the file's own line (size, version, path), as the whole listing shows it.
        var all = await InProcessClient.RunAsync(["ls", "--state", state]);
        var line = Assert.Single(all.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.EndsWith(" a.txt", StringComparison.Ordinal));
        Assert.True(file.Code == ExitCodes.Ok, file.Err);
        Assert.Equal(line + "\n", file.Out);
        Assert.True(fileJson.Code == ExitCodes.Ok, fileJson.Err);
        using (var json = JsonDocument.Parse(Assert.Single(fileJson.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries))))
        {
            Assert.Equal("a.txt", json.RootElement.GetProperty("path").GetString());
            Assert.Equal("file", json.RootElement.GetProperty("kind").GetString());
            Assert.Equal(12, json.RootElement.GetProperty("size").GetInt64());
        }

        Assert.EndsWith(" docs/b.txt\n", nested.Out, StringComparison.Ordinal);
        Assert.Single(nested.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(folderListing.Code == ExitCodes.Ok, folderListing.Err);
        Assert.EndsWith(" docs/b.txt\n", folderListing.Out, StringComparison.Ordinal);
        Assert.True(deleted.Code == ExitCodes.Ok, deleted.Err);
        Assert.Matches(@"^\s*deleted .* gone\.txt\n$", deleted.Out);
        Assert.True(deletedLive.Code == ExitCodes.Errors, $"exit {deletedLive.Code}: {deletedLive.Out}{deletedLive.Err}");
        Assert.Contains("'gone.txt' was deleted", deletedLive.Err, StringComparison.Ordinal);
        Assert.True(missing.Code == ExitCodes.Errors, $"exit {missing.Code}: {missing.Out}{missing.Err}");
        Assert.Contains("'no-such.txt'", missing.Err, StringComparison.Ordinal);
        Assert.Equal(string.Empty, missing.Out);
        Assert.Equal((ExitCodes.Ok, string.Empty, string.Empty), empty); // an empty folder: nothing under it
        Assert.Equal((ExitCodes.Ok, string.Empty, string.Empty), liveAsDeleted); // nothing deleted to show
    }
}
