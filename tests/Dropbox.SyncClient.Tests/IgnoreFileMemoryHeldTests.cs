using Dropbox.SyncClient.Local;
using Xunit.Abstractions;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// What a pass holds of its ignore files: their rule lines, not their bytes (a 16 MiB file of comments holds nothing once
/// hashed). Measured with a forced full collection, alone (no other test allocating meanwhile), against a generous bound.
/// </summary>
[Collection(MemoryCollection.Name)]
public sealed class IgnoreFileMemoryHeldTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Comment_only_ignore_files_are_not_held_through_the_pass()
    {
        const int Folders = 6;
        long? during = null;
        using var a = new TestClient(_dir, "a", _server, log: m =>
        {
            if (during is null && m.StartsWith("downloaded", StringComparison.Ordinal))
            {
                during = GC.GetTotalMemory(forceFullCollection: true);
            }
        });
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < Folders; i++)
        {
            a.Write($"d{i}/.dropboxignore", "#" + new string('#', IgnoreFileRead.MaxBytes - 2) + "\n"); // no rule at all
        }

        await a.SyncAsync();
        await a.SyncAsync();
        b.Write("new.txt", "x");
        await b.SyncAsync();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        await a.SyncAsync();
        var retained = during!.Value - before;
        output.WriteLine($"retained during the pass: {retained / (1 << 20)} MiB ({retained} bytes)");

        // Held whole (bytes at the start check and again from the scan) this was 255 MiB; the bound is 6 x 16 MiB.
        Assert.True(retained < Folders * (long)IgnoreFileRead.MaxBytes, $"retained during the pass: {retained / (1 << 20)} MiB for {Folders} comment-only ignore files of 16 MiB");
    }
}
