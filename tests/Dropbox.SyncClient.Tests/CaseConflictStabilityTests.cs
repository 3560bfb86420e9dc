using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A name that clashes in case is renamed to a (Case Conflict) name only once it is no longer being written.</summary>
public sealed class CaseConflictStabilityTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_case_clashing_file_still_being_written_is_left_withheld_and_renamed_once_it_settles()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        a.Write("notes.txt", "synced first");
        File.SetLastWriteTimeUtc(a.PathOf("notes.txt"), DateTime.UtcNow.AddHours(-2));
        await a.SyncAsync();
        a.Write("Notes.txt", "being written");

        // Renamed now, the writer's next bytes would make a new Notes.txt: its content split across two files.
        var writing = await a.SyncAsync();

        Assert.Equal(0, writing.Errors);
        Assert.True(writing.Pending >= 1, "the clash still being written is not reported as pending");
        Assert.Equal("being written", a.Read("Notes.txt"));
        Assert.False(File.Exists(a.PathOf("Notes (Case Conflict).txt")), "renamed while still being written");
        Assert.Null(_server.Current("Notes.txt"));

        File.AppendAllText(a.PathOf("Notes.txt"), ", and finished");
        File.SetLastWriteTimeUtc(a.PathOf("Notes.txt"), DateTime.UtcNow.AddHours(-2));
        var settled = await a.SyncAsync();

        Assert.Equal(0, settled.Errors + settled.Pending);
        Assert.Equal("being written, and finished", a.Read("Notes (Case Conflict).txt"));
        Assert.NotNull(_server.Current("Notes (Case Conflict).txt"));
        Assert.Equal("synced first", a.Read("notes.txt"));
    }

    [Fact]
    public async Task A_new_case_clashing_folder_still_being_written_is_left_withheld_and_renamed_once_everything_under_it_settles()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "synced first");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        Directory.CreateDirectory(b.PathOf("Docs"));
        b.Write("Docs/one.txt", "copied");
        b.Write("Docs/two.txt", "being copied");
        var old = DateTime.UtcNow.AddHours(-2);
        File.SetLastWriteTimeUtc(b.PathOf("Docs/one.txt"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);

        // A clone or unzip into 'Docs' is under way: renamed now, the rest would land in a recreated 'Docs'.
        var writing = await b.SyncAsync();

        Assert.Equal(0, writing.Errors);
        Assert.True(writing.Pending >= 1, "the folder still being written is not reported as pending");
        Assert.True(Directory.Exists(b.PathOf("Docs")), "renamed while still being written");
        Assert.False(Directory.Exists(b.PathOf("Docs (Case Conflict)")));
        Assert.Null(_server.Current("Docs/one.txt"));

        File.SetLastWriteTimeUtc(b.PathOf("Docs/two.txt"), old);
        Directory.SetLastWriteTimeUtc(b.PathOf("Docs"), old);
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal("copied", b.Read("Docs (Case Conflict)/one.txt"));
        Assert.NotNull(_server.Current("Docs (Case Conflict)/two.txt"));
        Assert.Equal("synced first", b.Read("docs/a.txt"));
        Assert.Null(_server.Current("Docs/one.txt"));
    }
}
