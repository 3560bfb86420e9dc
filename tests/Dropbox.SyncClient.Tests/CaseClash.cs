using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The case clash the case-conflict move tests start from, on the <see cref="FakeServer"/> with a real folder: 'Docs'
/// synced, then 'docs' with x.txt and sub/a.txt made from the web and synced here, so the next pass renames 'docs' to
/// <see cref="Moved"/>.
/// </summary>
internal static class CaseClash
{
    /// <summary>The loser's new name.</summary>
    public const string Moved = "docs (Case Conflict)";

    /// <summary>Client a with the clash synced (its next pass renames 'docs'), with <paramref name="moreFolders"/> (empty, under 'docs') synced too.</summary>
    public static async Task<TestClient> SyncedAsync(TempFolder dir, FakeServer server, params string[] moreFolders)
    {
        var a = new TestClient(dir, "a", server);
        await TestClient.CommitAsOtherClientAsync(dir, server, "Docs/y.txt", "older");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await server.CreateFolderAsync(new CreateFolderRequest { Path = "docs/sub", Device = "web" }, CancellationToken.None);
        foreach (var folder in moreFolders)
        {
            await server.CreateFolderAsync(new CreateFolderRequest { Path = folder, Device = "web" }, CancellationToken.None);
        }

        await TestClient.CommitAsOtherClientAsync(dir, server, "docs/x.txt", "x as synced", client: "web2");
        await TestClient.CommitAsOtherClientAsync(dir, server, "docs/sub/a.txt", "a as synced", client: "web3");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal("a as synced", a.Read("docs/sub/a.txt"));
        return a;
    }

    /// <summary>Another device ('b') deletes <paramref name="path"/> on the server right before the next server move.</summary>
    public static void DeleteBeforeTheMove(FakeServer server, string path) => server.BeforeMoveFile = async request =>
    {
        server.BeforeMoveFile = null;
        await server.DeleteFileAsync(new DeleteFileRequest { Path = path, Device = "b" }, CancellationToken.None);
    };
}
