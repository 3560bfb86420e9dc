namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// <c>sync --once</c> as real processes against a real metadata node and storage node: a remote change to a path
/// withheld here (the losing name of a case clash) is applied once the obstacle is gone, although the cursor moved on.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClientWithheldPathTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_delete_skipped_while_its_path_clashed_here_is_applied_once_the_clash_is_gone()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        // Both orders of the pair, so that whichever name the directory listing gives first, in one of the two
        // folders the synced name is the one the clash withholds.
        (string Synced, string Clash)[] pairs = [("d1/X.txt", "d1/x.txt"), ("d2/x.txt", "d2/X.txt")];
        foreach (var (synced, _) in pairs)
        {
            a.Write(synced, "old content of " + synced);
        }

        await a.SyncAsync();
        await b.SyncAsync();
        foreach (var (synced, clash) in pairs)
        {
            Assert.Equal("old content of " + synced, b.Read(synced));
            b.Write(clash, "B's own file " + clash);
        }

        await b.SyncAsync();
        foreach (var (synced, _) in pairs)
        {
            File.Delete(a.PathOf(synced));
        }

        await a.SyncAsync();
        await b.SyncAsync(); // the delete of a withheld name is skipped here, and the cursor moves past it
        foreach (var (_, clash) in pairs)
        {
            File.Delete(b.PathOf(clash));
        }

        await b.SyncAsync();
        await b.SyncAsync();

        var listed = await cluster.NewClientListAsync(a);
        foreach (var (synced, _) in pairs)
        {
            Assert.False(File.Exists(b.PathOf(synced)), $"B still holds '{synced}', which A deleted; the server lists: {string.Join(" | ", listed)}");
            Assert.DoesNotContain(listed, l => l.EndsWith(" " + synced, StringComparison.Ordinal));
        }
    }
}
