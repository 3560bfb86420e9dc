using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Tests.Contract;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Real clients against a real metadata node (RocksDB) and storage node in this process, the metadata node then
/// restored from a copy taken before a device's edit, as an operator restores one.
/// </summary>
public sealed class ServerRestoreTests : IAsyncLifetime
{
    private readonly TempFolder _dir = new();
    private WebApplication? _metadata;
    private WebApplication? _storage;
    private string _url = string.Empty;

    public Task InitializeAsync() => StartAsync();

    public async Task DisposeAsync()
    {
        await StopAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_server_restored_from_a_backup_taken_before_a_devices_edit_keeps_the_newer_bytes_on_the_server_and_every_device()
    {
        // Arrange: a file synced to two devices, the metadata node copied (the backup), then an edit on A synced to B.
        var token = _metadata!.Services.GetRequiredService<MetadataStore>().AddUser("alice").Token;
        using var a = new RealNodeDevice(_dir, "a", token);
        using var b = new RealNodeDevice(_dir, "b", token);
        a.Write("f.txt", "before the backup");
        Assert.Equal(0, (await a.SyncAsync(_url)).Errors);
        Assert.Equal(0, (await b.SyncAsync(_url)).Errors);
        await StopAsync();
        CopyTree(_dir.Sub("metadata"), _dir.Sub("backup"));
        await StartAsync();
        a.Write("f.txt", "after the backup: the newest");
        File.SetLastWriteTimeUtc(a.PathOf("f.txt"), DateTime.UtcNow.AddMinutes(-1));
        Assert.Equal(0, (await a.SyncAsync(_url)).Errors);
        Assert.Equal(0, (await b.SyncAsync(_url)).Errors);
        Assert.Equal("after the backup: the newest", b.Read("f.txt"));

        // Act: the metadata node restored from the copy (marked restored, as the README says), then both devices sync.
        await StopAsync();
        Directory.Delete(_dir.Sub("metadata"), recursive: true);
        CopyTree(_dir.Sub("backup"), _dir.Sub("metadata"));
        await File.WriteAllTextAsync(Path.Combine(_dir.Sub("metadata"), MetadataStore.RestoredMarker), "restored\n");
        await StartAsync();
        var first = await a.SyncAsync(_url);
        var second = await b.SyncAsync(_url);
        await a.SyncAsync(_url);

        // Assert: the newer bytes are on both devices and are the server's newest version; the older ones stay in the history.
        Assert.Equal(0, first.Errors + second.Errors + first.Conflicts + second.Conflicts);
        Assert.Equal("after the backup: the newest", a.Read("f.txt"));
        Assert.Equal("after the backup: the newest", b.Read("f.txt"));
        Assert.Single(TestClient.FilesIn(a.Folder));
        Assert.Single(TestClient.FilesIn(b.Folder));
        var versions = await a.Remote(_url).ListVersionsAsync(new ListVersionsRequest { Path = "f.txt" }, CancellationToken.None);
        var newest = versions.Versions.MaxBy(v => v.Version)!;
        Assert.Equal((ulong)"after the backup: the newest".Length, newest.Size);
        Assert.Contains(versions.Versions, v => v.Size == (ulong)"before the backup".Length);
    }

    private async Task StartAsync() => (_metadata, _storage, _url) = await RealNodes.StartPairAsync(_dir);

    private async Task StopAsync()
    {
        // Storage first, so its last events reach a metadata node that is still up.
        await RealNodes.StopAsync(_storage);
        await RealNodes.StopAsync(_metadata);
        _storage = null;
        _metadata = null;
    }

    private static void CopyTree(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }

        foreach (var folder in Directory.GetDirectories(source))
        {
            CopyTree(folder, Path.Combine(destination, Path.GetFileName(folder)));
        }
    }
}
