namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// <c>sync --once</c> as real processes against a real metadata node and storage node, on a case-sensitive file
/// system: names that differ only in case are both kept, one renamed to a <c>(Case Conflict)</c> name that syncs.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClientCaseConflictTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task An_edit_here_to_a_name_whose_case_changed_elsewhere_is_kept_under_a_case_conflict_name_and_later_edits_sync()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        a.Write("img.dat", "original");
        await a.SyncAsync();
        await b.SyncAsync();

        // A acts as a case-insensitive device: its folder never holds both names, it only changes the case.
        File.Move(a.PathOf("img.dat"), a.PathOf("Img.dat"));
        await a.SyncAsync();
        File.AppendAllText(b.PathOf("img.dat"), " + B's first edit");
        Settle(b.PathOf("img.dat")); // a clashing file still being written is withheld until it settles (CaseConflictStabilityTests)
        await b.SyncAsync();
        File.AppendAllText(b.PathOf("img (Case Conflict).dat"), " + B's second edit");
        Settle(b.PathOf("img (Case Conflict).dat"));
        await b.SyncAsync();
        await a.SyncAsync();

        Assert.Equal("original", b.Read("Img.dat"));
        Assert.False(File.Exists(b.PathOf("img.dat")));
        Assert.Equal("original", a.Read("Img.dat"));
        Assert.Equal("original + B's first edit + B's second edit", a.Read("img (Case Conflict).dat"));
        Assert.Equal(["Img.dat", "img (Case Conflict).dat"], Directory.GetFiles(a.Folder).Select(f => Path.GetFileName(f)).Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal).ToArray());
        var listed = await cluster.NewClientListAsync(a);
        Assert.DoesNotContain(listed, l => l.EndsWith(" img.dat", StringComparison.Ordinal));
    }

    /// <summary>As if the edit had been made a minute ago: the file is no longer "still being written".</summary>
    private static void Settle(string path) => File.SetLastWriteTimeUtc(path, DateTime.UtcNow - TimeSpan.FromMinutes(1));
}
