using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>Which of two names that differ only in case keeps its name: the one synced first, on every device.</summary>
public sealed class CaseConflictWinnerTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_long_synced_file_keeps_its_name_and_a_newcomer_differing_only_in_case_is_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("notes.txt", "long synced");
        a.Write("staging.txt", "the newcomer");
        await a.SyncAsync();
        await b.SyncAsync();
        var synced = _server.Current("notes.txt")!.Version;

        // A newcomer 'Notes.txt' arrives (another device, the web): the staged content committed under the new name.
        var staged = _server.Current("staging.txt")!;
        var commit = new CommitFileRequest { Path = "Notes.txt", Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);

        // Each device takes the newcomer, sees the clash, renames one name; then everyone catches up.
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal("long synced", a.Read("notes.txt"));
        Assert.Equal("long synced", b.Read("notes.txt"));
        Assert.Equal(synced, _server.Current("notes.txt")?.Version);
        Assert.Null(_server.Current("Notes.txt"));
        Assert.Equal("the newcomer", a.Read("Notes (Case Conflict).txt"));
        Assert.Equal("the newcomer", b.Read("Notes (Case Conflict).txt"));
        Assert.NotNull(_server.Current("Notes (Case Conflict).txt"));
    }
}
