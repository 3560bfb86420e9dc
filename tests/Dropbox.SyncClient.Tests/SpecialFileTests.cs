using System.Diagnostics;
using Dropbox.Testing;

namespace Dropbox.SyncClient.Tests;

/// <summary>FIFOs (and sockets, devices) in the folder: no content to sync, and a FIFO's open for reading blocks.</summary>
public sealed class SpecialFileTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_fifo_in_the_folder_is_skipped_and_the_pass_syncs_the_rest()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("ok.txt", "fine");
        await MkFifoAsync(a.PathOf("pipe"));

        // Without the check the pass opens the FIFO to hash it and waits for a writer that never comes.
        var up = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await b.SyncAsync();

        Assert.Equal(0, up.Errors);
        Assert.Equal(1, up.FilesUploaded);
        Assert.Contains(up.Notes, n => n.Contains("pipe") && n.Contains("not a regular file"));
        Assert.Equal("fine", File.ReadAllText(b.PathOf("ok.txt")));
        Assert.False(Path.Exists(b.PathOf("pipe")));
    }

    [Fact]
    public async Task A_synced_file_replaced_by_a_fifo_is_kept_on_the_server_and_the_other_device()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("data.bin", "important");
        await a.SyncAsync();
        await b.SyncAsync();

        File.Delete(a.PathOf("data.bin"));
        await MkFifoAsync(a.PathOf("data.bin"));
        var pass = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Equal(0, pass.FilesDeleted + pass.FilesUploaded);
        Assert.Equal("important", File.ReadAllText(b.PathOf("data.bin")));
    }

    internal static async Task MkFifoAsync(string path)
    {
        using var mkfifo = Process.Start("mkfifo", path);
        await mkfifo.WaitForExitAsync();
        Assert.Equal(0, mkfifo.ExitCode);
    }
}
