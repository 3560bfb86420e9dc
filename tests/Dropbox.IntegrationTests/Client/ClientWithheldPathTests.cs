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
        // Before case conflicts were renamed, the clash withheld one name here and its delete was skipped while the
        // cursor moved past it; now the delete applies at once. Either way B must end without the file.
        await b.SyncAsync();
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

    [Fact]
    public async Task A_remote_delete_skipped_while_its_folder_was_a_symbolic_link_here_applies_once_the_folder_is_back()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        a.Write("d/f.txt", "old content");
        a.Write("other.txt", "x");
        await a.SyncAsync();
        await b.SyncAsync();
        // B moves the folder elsewhere and leaves a link in its place: withheld, nothing under it syncs meanwhile.
        var elsewhere = Path.Combine(_dir.CreateSub("elsewhere"), "d");
        Directory.Move(b.PathOf("d"), elsewhere);
        Directory.CreateSymbolicLink(b.PathOf("d"), elsewhere);
        File.Delete(a.PathOf("d/f.txt"));
        await a.SyncAsync();
        await b.SyncAsync(); // skipped: withheld; the cursor moves past the delete

        Directory.Delete(b.PathOf("d"));
        Directory.Move(elsewhere, b.PathOf("d"));
        a.Write("other.txt", "a later change");
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.False(File.Exists(b.PathOf("d/f.txt")), "B keeps 'd/f.txt', which A deleted");
        Assert.Equal("a later change", b.Read("other.txt"));
        Assert.DoesNotContain(await cluster.NewClientListAsync(a), l => l.EndsWith(" d/f.txt", StringComparison.Ordinal));
    }
}
