using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;

// Not "...Metadata": that namespace would shadow Grpc.Core.Metadata for every sibling test folder.
namespace Dropbox.IntegrationTests.MetadataNodeTests;

/// <summary>The <c>user</c> verbs as an operator runs them: offline on a stopped node's store, then online against a running node.</summary>
[Trait("Category", "Slow")]
public sealed partial class UserVerbsOnlineTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_user_verbs_manage_users_of_a_running_node_with_an_admin_token_and_refuse_a_non_admin()
    {
        // Arrange: the first user, added offline, is the admin; then the node runs.
        var data = _dir.CreateSub("meta");
        var first = await MetadataProcess.RunVerbAsync("user", "add", "root", "--data", data);
        Assert.True(first.ExitCode == 0, first.Stderr);
        var admin = TokenLine().Match(first.Stdout).Groups[1].Value;
        using var server = await MetadataProcess.StartServerAsync(data, _dir.CreateSub("keys"));
        string[] asAdmin = ["--server", server.Url, "--token", admin];

        // Act + Assert: add, list, quota, rotate, remove, online.
        var add = await MetadataProcess.RunVerbAsync(["user", "add", "bob", .. asAdmin]);
        Assert.True(add.ExitCode == 0, add.Stderr);
        var bob = TokenLine().Match(add.Stdout).Groups[1].Value;
        Assert.NotEqual(string.Empty, bob);

        var quota = await MetadataProcess.RunVerbAsync(["user", "quota", "bob", "1000000", .. asAdmin]);
        Assert.True(quota.ExitCode == 0, quota.Stderr);
        Assert.Contains("quota: bob 1000000 bytes", quota.Stdout, StringComparison.Ordinal);

        var list = await MetadataProcess.RunVerbAsync(["user", "list", .. asAdmin]);
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Matches(@"(?m)^root\tns-[0-9a-f]+\tadmin\tquota=none\tused=0$", list.Stdout);
        Assert.Matches(@"(?m)^bob\tns-[0-9a-f]+\tuser\tquota=1000000 bytes\tused=0$", list.Stdout);

        var refused = await MetadataProcess.RunVerbAsync("user", "list", "--server", server.Url, "--token", bob);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("not an admin", refused.Stderr, StringComparison.Ordinal);

        var rotate = await MetadataProcess.RunVerbAsync(["user", "rotate", "bob", .. asAdmin]);
        Assert.True(rotate.ExitCode == 0, rotate.Stderr);
        var bob2 = TokenLine().Match(rotate.Stdout).Groups[1].Value;
        var stale = await MetadataProcess.RunVerbAsync("user", "list", "--server", server.Url, "--token", bob);
        Assert.Contains("Unauthenticated", stale.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(bob, bob2);

        var remove = await MetadataProcess.RunVerbAsync(["user", "remove", "bob", .. asAdmin]);
        Assert.True(remove.ExitCode == 0, remove.Stderr);
        var after = await MetadataProcess.RunVerbAsync(["user", "list", .. asAdmin]);
        Assert.DoesNotContain("bob", after.Stdout, StringComparison.Ordinal);

        // Without a target the verb says what to give.
        var bare = await MetadataProcess.RunVerbAsync("user", "list");
        Assert.Equal(2, bare.ExitCode);
        Assert.Contains("--server URL --token ADMIN_TOKEN", bare.Stderr, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"token:\s*(\S+)")]
    private static partial Regex TokenLine();
}
