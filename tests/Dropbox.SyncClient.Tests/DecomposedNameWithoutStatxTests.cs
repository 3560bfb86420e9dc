using System.Reflection;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

[Collection(WithoutStatxCollection.Name)]
/// <summary>Without statx: both spellings of one name as two files rename nothing (the composed one syncs).</summary>
public sealed class DecomposedNameWithoutStatxTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();
    private static readonly FieldInfo Unavailable = typeof(FileChangeTime).GetField("_unavailable", BindingFlags.NonPublic | BindingFlags.Static)!;

    public void Dispose() => _dir.Dispose();

    private static string Dump(SyncSummary s) => $"pending={s.Pending} errors={s.Errors} up={s.FilesUploaded} down={s.FilesDownloaded} conflicts={s.Conflicts} notes=[{string.Join(" | ", s.Notes)}] errs=[{string.Join(" | ", s.ErrorMessages)}]";

    [Fact]
    public async Task Without_statx_both_spellings_as_two_files_rename_nothing()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("ni\u00f1o.txt", "composed here");
        a.Write("keep.txt", "k");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        a.Write("nin\u0303o.txt", "decomposed, longer bytes");
        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        var log = new List<string>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var s = await a.SyncAsync();
                log.Add($"pass {i}: " + Dump(s));
            }
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }

        var files = string.Join(", ", TestClient.FilesIn(a.Folder).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)));
        var server = $"server niño={_server.Current("ni\u00f1o.txt")?.Size}";
        var msg = string.Join(" ;; ", log) + " ;; local: " + files + " ;; " + server;
        Assert.True(File.Exists(a.PathOf("ni\u00f1o.txt")) && a.Read("ni\u00f1o.txt") == "composed here", "NFC file changed: " + msg);
        Assert.True(_server.Current("ni\u00f1o.txt")?.Size == (ulong)"composed here".Length, "server changed: " + msg);
        Assert.True(log.All(l => l.Contains("pending=0")), "pending: " + msg);
    }
}
