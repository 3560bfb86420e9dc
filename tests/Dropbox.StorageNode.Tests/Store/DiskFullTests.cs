using System.Diagnostics;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>
/// A storage node whose data disk fills up, on a real file system: a small tmpfs mounted for the test (the tests run
/// as root). Puts must then fail with RESOURCE_EXHAUSTED naming the node, every chunk stored before must still read
/// back intact, held chunks must be refused like new ones (no existence oracle), and freed space must bring puts back.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private const int ChunkBytes = 1024 * 1024;
    private readonly TempFolder _dir = new();
    private readonly string _mount;

    public DiskFullTests()
    {
        _mount = _dir.CreateSub("small-disk");
        Directory.CreateDirectory(_mount);
        Run("mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", _mount);
    }

    public void Dispose()
    {
        Run("umount", "-l", _mount);
        _dir.Dispose();
    }

    [Fact]
    public async Task Below_its_reserve_a_node_refuses_every_put_keeps_what_it_stored_and_takes_puts_again_once_space_is_freed()
    {
        // Arrange: 12 MiB of disk, 3 MiB of it ballast the test can free later, a 2 MiB reserve.
        var ballast = Path.Combine(_mount, "ballast");
        await File.WriteAllBytesAsync(ballast, new byte[3 * ChunkBytes]);
        // A write that hits the disk's end keeps the node full until the reserve plus a margin is free: 1 MiB here, so
        // freeing the ballast is enough on this small disk.
        await using var node = await OpenAsync(reserveBytes: 2 * ChunkBytes, outOfSpaceMarginBytes: ChunkBytes);

        // Act: put 1 MiB chunks until the node refuses one (bounded: the disk cannot take 20).
        var stored = new List<(ChunkId Id, byte[] Bytes)>();
        DropboxException? refused = null;
        for (var i = 0; i < 20 && refused is null; i++)
        {
            var chunk = TestChunks.Random(ChunkBytes, seed: i);
            try
            {
                await node.Store.PutAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, "ns-full", CancellationToken.None);
                stored.Add(chunk);
            }
            catch (DropboxException ex)
            {
                refused = ex;
            }
        }

        // Assert: refused as full, with the node named; what was stored reads back intact.
        Assert.NotNull(refused);
        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains("disk-1 is full", refused.Message, StringComparison.Ordinal);
        Assert.True(stored.Count >= 3, $"only {stored.Count} chunks fitted before the node refused");
        Assert.True(node.Store.Space!.IsFull);
        foreach (var (id, bytes) in stored)
        {
            var read = await node.Store.ReadAsync(id, CancellationToken.None);
            Assert.Equal(bytes, read.Data.ToArray());
        }

        // A chunk the node holds is refused exactly like a new one while full.
        var held = stored[0];
        var heldRefusal = await Assert.ThrowsAsync<DropboxException>(() => node.Store.PutAsync(held.Id, ChunkEncoding.Raw, held.Bytes.Length, held.Bytes, "ns-other", CancellationToken.None).AsTask());
        Assert.Equal(ErrorKind.ResourceExhausted, heldRefusal.Kind);

        // Space freed: the node takes puts again by itself.
        File.Delete(ballast);
        await WaitUntilAsync(() => !node.Store.Space.IsFull);
        var after = TestChunks.Random(ChunkBytes, seed: 100);
        await node.Store.PutAsync(after.Id, ChunkEncoding.Raw, after.Bytes.Length, after.Bytes, "ns-full", CancellationToken.None);
        Assert.Equal(after.Bytes, (await node.Store.ReadAsync(after.Id, CancellationToken.None)).Data.ToArray());
    }

    [Fact]
    public async Task With_no_reserve_a_write_that_finds_no_space_is_resource_exhausted_and_harms_nothing_stored()
    {
        // Arrange: no reserve, so the file system itself says "no space left on device".
        await using var node = await OpenAsync(reserveBytes: 0);

        // Act: put until refused.
        var stored = new List<(ChunkId Id, byte[] Bytes)>();
        DropboxException? refused = null;
        for (var i = 0; i < 20 && refused is null; i++)
        {
            var chunk = TestChunks.Random(ChunkBytes, seed: 1000 + i);
            try
            {
                await node.Store.PutAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, "ns-full", CancellationToken.None);
                stored.Add(chunk);
            }
            catch (DropboxException ex)
            {
                refused = ex;
            }
        }

        // Assert: a clear RESOURCE_EXHAUSTED (not an internal error), and everything acknowledged reads back intact.
        Assert.NotNull(refused);
        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains("is full", refused.Message, StringComparison.Ordinal);
        Assert.NotEmpty(stored);
        foreach (var (id, bytes) in stored)
        {
            Assert.Equal(bytes, (await node.Store.ReadAsync(id, CancellationToken.None)).Data.ToArray());
        }

        // Past the next reading of the free space, a held chunk is still refused like a new one (no existence oracle).
        await Task.Delay(SpaceGuard.RecheckInterval * 2);
        var held = stored[0];
        var heldRefusal = await Assert.ThrowsAsync<DropboxException>(() => node.Store.PutAsync(held.Id, ChunkEncoding.Raw, held.Bytes.Length, held.Bytes, "ns-other", CancellationToken.None).AsTask());
        Assert.Equal(ErrorKind.ResourceExhausted, heldRefusal.Kind);
    }

    private async Task<Node> OpenAsync(long reserveBytes, long outOfSpaceMarginBytes = SpaceGuard.DefaultOutOfSpaceMarginBytes)
    {
        var engine = ChunkEngine.Open(new EngineOptions
        {
            Directory = Path.Combine(_mount, "segments"),
            IndexDirectory = _dir.CreateSub("index"),
            CheckpointInterval = TimeSpan.Zero,
            IndexSizeBytes = 1L << 12,
            IndexMemoryBytes = 1L << 15,
            IndexPageSizeBytes = 1L << 12,
        });
        var outbox = new EventOutbox(_dir.CreateSub("outbox"));
        var store = new ChunkStore(engine, outbox, new NodeId("disk-1"), space: new SpaceGuard(_mount, reserveBytes, outOfSpaceMarginBytes: outOfSpaceMarginBytes));
        await Task.CompletedTask;
        return new Node(engine, outbox, store);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the condition did not hold within 10 s");
            await Task.Delay(50);
        }
    }

    private static void Run(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { UseShellExecute = false, RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit(30_000);
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {error} (the test mounts a tmpfs and needs root)");
    }

    private sealed record Node(ChunkEngine Engine, EventOutbox Outbox, ChunkStore Store) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Engine.DisposeAsync();
            await Outbox.DisposeAsync();
        }
    }
}
