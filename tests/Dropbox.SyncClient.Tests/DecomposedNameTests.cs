using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Names on disk in decomposed Unicode (NFD, as files copied from a Mac often are): the client names paths in composed
/// form (NFC), so such a file or folder is withheld with the reason, its bytes left where they are, and no pass keeps
/// waiting for it (it used to be "still changing" at every pass, never synced, and a daemon passed every ~2 s).
/// </summary>
public sealed class DecomposedNameTests : IDisposable
{
    private const string Composed = "caf\u00e9.txt";
    private const string Decomposed = "cafe\u0301.txt";
    private const string DecomposedFolder = "Re\u0301sume\u0301s";
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_or_folder_named_in_NFD_is_withheld_with_the_reason_and_leaves_nothing_pending()
    {
        // Arrange: one NFD file, one file in an NFD folder, one plain file; the other device has a file at the composed name.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(Decomposed, "decomposed bytes");
        a.Write(DecomposedFolder + "/inside.txt", "inside");
        a.Write("plain.txt", "plain");
        a.Write("ni\u00f1o.txt", "composed here");     // both forms of one name on this disk, two files:
        a.Write("nin\u0303o.txt", "decomposed here");  // the composed one syncs, the decomposed one is withheld
        b.Write(Composed, "composed, from b");
        await b.SyncAsync();

        // Act: two passes.
        var first = await a.SyncAsync();
        var second = await a.SyncAsync();

        // Assert: the plain file synced; the NFD ones withheld with the reason, nothing pending, no error; the NFD bytes
        // where they were and b's composed file neither downloaded beside them nor touched on the server.
        foreach (var pass in new[] { first, second })
        {
            Assert.Equal(0, pass.Errors);
            Assert.Equal(0, pass.Pending);
            Assert.Contains(pass.Notes, n => n.Contains(Composed, StringComparison.Ordinal) && n.Contains("decomposed Unicode", StringComparison.Ordinal));
            Assert.Contains(pass.Notes, n => n.Contains("R\u00e9sum\u00e9s", StringComparison.Ordinal) && n.Contains("nor anything in it", StringComparison.Ordinal));
        }

        Assert.Contains(first.Notes, n => n.Contains("ni\u00f1o.txt", StringComparison.Ordinal) && n.Contains("decomposed Unicode", StringComparison.Ordinal));
        Assert.Equal(2, first.FilesUploaded);
        Assert.Equal(0, first.FilesDownloaded);
        Assert.Equal(0, second.FilesUploaded + second.FilesDownloaded);
        Assert.NotNull(_server.Current("plain.txt"));
        Assert.Equal((ulong)"composed here".Length, _server.Current("ni\u00f1o.txt")?.Size);
        Assert.Equal("decomposed here", File.ReadAllText(Path.Combine(a.Folder, "nin\u0303o.txt")));
        Assert.Null(_server.Current("R\u00e9sum\u00e9s/inside.txt"));
        Assert.Equal((ulong)"composed, from b".Length, _server.Current(Composed)?.Size);
        Assert.Equal("decomposed bytes", File.ReadAllText(Path.Combine(a.Folder, Decomposed)));
        Assert.Equal("inside", File.ReadAllText(Path.Combine(a.Folder, DecomposedFolder, "inside.txt")));
        Assert.False(File.Exists(Path.Combine(a.Folder, Composed)), "the composed file was downloaded beside the decomposed one");
    }

    [Fact]
    public async Task A_name_that_is_not_valid_UTF8_is_withheld_with_the_reason_and_leaves_nothing_pending()
    {
        // Arrange: a file whose name has the byte 0xFF (made by the shell: .NET strings cannot name it), and a plain one.
        using var a = new TestClient(_dir, "a", _server);
        a.Write("plain.txt", "plain");
        var make = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sh", ["-c", "printf 'raw bytes' > \"$(printf 'bad\\377name.txt')\""]) { WorkingDirectory = a.Folder })!;
        await make.WaitForExitAsync();
        Assert.Equal(0, make.ExitCode);
        Assert.Contains(Directory.GetFiles(a.Folder), f => f.Contains('\uFFFD', StringComparison.Ordinal));

        // Act: two passes.
        var first = await a.SyncAsync();
        var second = await a.SyncAsync();

        // Assert: the plain file synced; the other withheld with the reason, nothing pending or failed, its bytes in place.
        foreach (var pass in new[] { first, second })
        {
            Assert.Equal(0, pass.Errors);
            Assert.Equal(0, pass.Pending);
            Assert.Contains(pass.Notes, n => n.Contains("not valid UTF-8", StringComparison.Ordinal));
        }

        Assert.Equal(1, first.FilesUploaded);
        Assert.Equal(0, second.FilesUploaded);
        Assert.NotNull(_server.Current("plain.txt"));
        Assert.Empty(_server.History("bad\uFFFDname.txt"));
        var check = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sh", ["-c", "test \"$(cat \"$(printf 'bad\\377name.txt')\")\" = 'raw bytes'"]) { WorkingDirectory = a.Folder })!;
        await check.WaitForExitAsync();
        Assert.Equal(0, check.ExitCode);
    }
}
