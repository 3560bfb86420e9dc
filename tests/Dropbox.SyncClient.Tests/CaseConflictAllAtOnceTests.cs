using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The local case clashes of a pass are all read before any is renamed and decided at once (<see cref="LocalCaseRules.DecideAll"/>):
/// a free name on disk for each is no longer free once an earlier clash of the pass is renamed to it, in any case.
/// </summary>
public sealed class CaseConflictAllAtOnceTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Three_names_differing_only_in_case_become_three_names_that_do_not_clash()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("a.txt", "one");
        a.Write("A.txt", "two");
        a.Write("A.TXT", "three");

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        var names = TestClient.FilesIn(a.Folder).Select(f => Path.GetFileName(f)!).ToList();
        Assert.True(names.Count == 3, $"here: [{string.Join(", ", names)}]");
        Assert.Equal(3, names.Select(Dropbox.SyncClient.Local.SyncPaths.CaseFoldKey).Distinct().Count());
        Assert.Equal(["one", "three", "two"], names.Select(a.Read).Order(StringComparer.Ordinal));
        foreach (var name in names)
        {
            Assert.NotNull(_server.Current(name));
        }
    }
}
