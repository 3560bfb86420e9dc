using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>Settling a client against the <see cref="FakeServer"/> and checking that both hold the same files.</summary>
internal static class Convergence
{
    /// <summary>Five passes of <paramref name="a"/>, each without an error; their notes.</summary>
    public static async Task<List<string>> SettleAsync(TestClient a)
    {
        var notes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var pass = await a.SyncAsync();
            notes.AddRange(pass.Notes);
            Assert.Equal(0, pass.Errors);
        }

        return notes;
    }

    /// <summary>Asserts the server's live files and the files in <paramref name="a"/>'s folder are the same paths.</summary>
    public static async Task AssertSameAsync(FakeServer fake, TestClient a, List<string> notes)
    {
        var server = (await fake.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        var local = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.True(server.SequenceEqual(local),
            $"server [{string.Join(", ", server)}] but here [{string.Join(", ", local)}]; notes: [{string.Join(" | ", notes)}]");
    }
}
