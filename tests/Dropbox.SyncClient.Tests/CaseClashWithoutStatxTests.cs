using System.Reflection;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A case-clash loser found as synced where statx cannot be used (not Linux, an old C library, a container filter): the
/// stat then comes from <see cref="FileInfo"/>, as the scan's does. The flag is process-wide: this runs in the collection
/// with nothing else in parallel.
/// </summary>
[Collection(WithoutStatxCollection.Name)]
public sealed class CaseClashWithoutStatxTests : IDisposable
{
    private static readonly FieldInfo Unavailable = typeof(FileChangeTime).GetField("_unavailable", BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Without_statx_a_synced_file_renamed_on_the_server_to_a_name_new_here_follows_the_rename()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        await CaseConflictCascadeTests.RenameToANameNewOnBAsync(a, b);

        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            var pass = await b.SyncAsync();
            await CaseConflictCascadeTests.AssertRenameKeptItsNameAsync(_server, pass);
            Assert.False(File.Exists(b.PathOf("d/X.txt")), "B keeps 'd/X.txt', which A renamed");
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }
}
