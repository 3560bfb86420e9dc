using Dropbox.SyncClient.Cli;
using Dropbox.SyncClient.Tests.Contract;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A state directory logged in again to another account on the same server and folder starts fresh, as a login to
/// another server or folder does: the folder is merged with the new account (nothing deleted on either side).
/// </summary>
public sealed class AccountSwitchTests(RealNodes nodes) : IClassFixture<RealNodes>, IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_login_to_another_account_on_the_same_server_and_folder_merges_the_folder_with_that_account()
    {
        // Arrange: alice's folder synced; bob's account holds a file of its own (sent from bob's other device).
        var state = _dir.Sub("state");
        var folder = _dir.CreateSub("folder");
        var bobToken = nodes.NewUserToken();
        await RunAsync("login", "--server", nodes.Url, "--token", nodes.NewUserToken(), "--folder", folder, "--state", state);
        await File.WriteAllTextAsync(Path.Combine(folder, "alice.txt"), "alice's file");
        await File.WriteAllTextAsync(Path.Combine(folder, "notes.txt"), "alice's notes");
        await RunAsync("sync", "--once", "--state", state);
        var bobFolder = _dir.CreateSub("bob-folder");
        var bobState = _dir.Sub("bob-state");
        await RunAsync("login", "--server", nodes.Url, "--token", bobToken, "--folder", bobFolder, "--state", bobState);
        await File.WriteAllTextAsync(Path.Combine(bobFolder, "bob.txt"), "bob's file");
        await File.WriteAllTextAsync(Path.Combine(bobFolder, "notes.txt"), "bob's notes");
        await RunAsync("sync", "--once", "--state", bobState);

        // Act: alice's state directory logs in to bob's account, same server and folder, and syncs twice.
        var relinked = await RunAsync("login", "--server", nodes.Url, "--token", bobToken, "--folder", folder, "--state", state);
        await RunAsync("sync", "--once", "--state", state);
        await RunAsync("sync", "--once", "--state", state);
        await RunAsync("sync", "--once", "--state", bobState);

        // Assert: every file in both of bob's folders: alice's went up to bob's account, bob's came down, and the two
        // notes.txt (the same path and version number in each account) are both kept, one as a conflicted copy.
        foreach (var f in new[] { folder, bobFolder })
        {
            var notes = Directory.GetFiles(f, "notes*.txt").Select(File.ReadAllText).Order().ToList();
            Assert.True(notes is ["alice's notes", "bob's notes"], $"notes in {f}: [{string.Join(", ", notes)}]");
            Assert.Equal("alice's file", await File.ReadAllTextAsync(Path.Combine(f, "alice.txt")));
            Assert.True(File.Exists(Path.Combine(f, "bob.txt")), $"bob's file is missing from {f}");
            Assert.Equal("bob's file", await File.ReadAllTextAsync(Path.Combine(f, "bob.txt")));
        }

        Assert.Contains("replaced", relinked, StringComparison.Ordinal);
    }

    private static async Task<string> RunAsync(params string[] argv)
    {
        var (code, output, error) = await InProcessClient.RunAsync(argv);
        Assert.True(code == ExitCodes.Ok, $"{string.Join(' ', argv[..2])} exited {code}: {output}\n{error}");
        return output;
    }
}
