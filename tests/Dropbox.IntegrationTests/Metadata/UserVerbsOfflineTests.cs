using System.Text.RegularExpressions;

// Not "...Metadata": that namespace would shadow Grpc.Core.Metadata for every sibling test folder.
namespace Dropbox.IntegrationTests.MetadataNodeTests;

/// <summary>
/// The <c>user</c> verbs with <c>--data DIR</c> on a stopped node's store, as an operator runs them without a running node
/// (or without an admin token): what they write is what the node serves once it starts, and they refuse while it runs.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class UserVerbsOfflineTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_user_verbs_manage_users_of_a_stopped_node_and_the_node_then_serves_what_they_wrote()
    {
        // Arrange: a store with its first user (the admin), no node running.
        var data = _dir.CreateSub("meta");
        var keys = _dir.CreateSub("keys");
        var first = await MetadataProcess.RunVerbAsync("user", "add", "root", "--data", data);
        Assert.True(first.ExitCode == 0, first.Stderr);
        var admin = TokenLine().Match(first.Stdout).Groups[1].Value;

        // Act + Assert: add, quota, list, rotate, offline.
        var add = await MetadataProcess.RunVerbAsync("user", "add", "bob", "--data", data);
        Assert.True(add.ExitCode == 0, add.Stderr);
        var bob = TokenLine().Match(add.Stdout).Groups[1].Value;
        Assert.NotEqual(string.Empty, bob);

        var quota = await MetadataProcess.RunVerbAsync("user", "quota", "bob", "1000000", "--data", data);
        Assert.True(quota.ExitCode == 0, quota.Stderr);
        Assert.Contains("quota: bob 1000000 bytes", quota.Stdout, StringComparison.Ordinal);

        var list = await MetadataProcess.RunVerbAsync("user", "list", "--data", data);
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Matches(@"(?m)^root\tns-[0-9a-f]+\tadmin\tquota=none\tused=0$", list.Stdout);
        Assert.Matches(@"(?m)^bob\tns-[0-9a-f]+\tuser\tquota=1000000 bytes\tused=0$", list.Stdout);

        var rotate = await MetadataProcess.RunVerbAsync("user", "rotate", "bob", "--data", data);
        Assert.True(rotate.ExitCode == 0, rotate.Stderr);
        var bob2 = TokenLine().Match(rotate.Stdout).Groups[1].Value;
        Assert.NotEqual(string.Empty, bob2);
        Assert.NotEqual(bob, bob2);

        // A bad number and an unknown user are refused by name, changing nothing.
        var badQuota = await MetadataProcess.RunVerbAsync("user", "quota", "bob", "lots", "--data", data);
        Assert.Equal(2, badQuota.ExitCode);
        Assert.Contains("'lots'", badQuota.Stderr, StringComparison.Ordinal);
        var nobody = await MetadataProcess.RunVerbAsync("user", "remove", "nobody", "--data", data);
        Assert.NotEqual(0, nobody.ExitCode);
        Assert.Contains("nobody", nobody.Stderr, StringComparison.Ordinal);

        // The node started on that store serves what the verbs wrote: the quota, the rotated token (the old one is dead).
        using (var server = await MetadataProcess.StartServerAsync(data, keys))
        {
            var online = await MetadataProcess.RunVerbAsync("user", "list", "--server", server.Url, "--token", admin);
            Assert.True(online.ExitCode == 0, online.Stderr);
            Assert.Matches(@"(?m)^bob\tns-[0-9a-f]+\tuser\tquota=1000000 bytes\tused=0$", online.Stdout);
            var stale = await MetadataProcess.RunVerbAsync("user", "list", "--server", server.Url, "--token", bob);
            Assert.Contains("Unauthenticated", stale.Stderr, StringComparison.Ordinal);
            var rotated = await MetadataProcess.RunVerbAsync("user", "list", "--server", server.Url, "--token", bob2);
            Assert.Contains("not an admin", rotated.Stderr, StringComparison.Ordinal);

            // While it runs, an offline verb is refused with what to do, and removes nobody.
            var busy = await MetadataProcess.RunVerbAsync("user", "remove", "bob", "--data", data);
            Assert.NotEqual(0, busy.ExitCode);
            Assert.Contains("in use by another process", busy.Stderr, StringComparison.Ordinal);
            var still = await MetadataProcess.RunVerbAsync("user", "list", "--server", server.Url, "--token", admin);
            Assert.Matches(@"(?m)^bob\t", still.Stdout);

            await server.StopAsync();
        }

        // Stopped again: remove, and the list no longer has the user.
        var remove = await MetadataProcess.RunVerbAsync("user", "remove", "bob", "--data", data);
        Assert.True(remove.ExitCode == 0, remove.Stderr);
        Assert.Contains("removed: bob", remove.Stdout, StringComparison.Ordinal);
        var after = await MetadataProcess.RunVerbAsync("user", "list", "--data", data);
        Assert.True(after.ExitCode == 0, after.Stderr);
        Assert.DoesNotMatch(@"(?m)^bob\t", after.Stdout);
        Assert.Matches(@"(?m)^root\tns-[0-9a-f]+\tadmin\t", after.Stdout);
    }

    [GeneratedRegex(@"token:\s*(\S+)")]
    private static partial Regex TokenLine();
}
