using Dropbox.Shared.Chunking;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Dropbox.Testing;

namespace Dropbox.SyncClient.Tests;

public sealed class EarlyReadsTests : IDisposable
{
    private static readonly TimeSpan StableAge = TimeSpan.FromSeconds(2);
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_large_synced_file_whose_stamp_moved_is_read_early_and_taken_while_unchanged()
    {
        var hasher = Hasher();
        var (path, entry) = WriteAged("big.bin", TestClient.RandomBytes(200_000, 1));
        var index = new Dictionary<string, BaseStat> { ["big.bin"] = new(FileKind.File, entry.Size - 1, entry.MtimeTicks - TimeSpan.TicksPerMinute, 1) };

        await using var early = Start(index, hasher);
        Assert.Equal(1, early.Pending);
        await early.ReadsEnded;
        var taken = await early.TakeAsync(entry, path);

        Assert.NotNull(taken);
        Assert.Equal(1, hasher.FilesRead);
        var fresh = await Hasher().TryHashAsync(path, CancellationToken.None);
        Assert.Equal(fresh!.ContentHash, taken.ContentHash);
        Assert.Equal(0, early.Pending);
    }

    [Fact]
    public async Task A_write_after_the_early_read_that_puts_size_and_mtime_back_is_not_taken()
    {
        var (path, entry) = WriteAged("big.bin", TestClient.RandomBytes(200_000, 2));
        var index = new Dictionary<string, BaseStat> { ["big.bin"] = new(FileKind.File, 100_000, 1, 1) };
        await using var early = Start(index, Hasher());
        Assert.Equal(1, early.Pending);
        await early.ReadsEnded;

        // Same size, other bytes, the old mtime put back (as cp -p, rsync -t or tar do): only the ctime tells.
        File.WriteAllBytes(path, TestClient.RandomBytes(200_000, 3));
        File.SetLastWriteTimeUtc(path, new DateTime(entry.MtimeTicks, DateTimeKind.Utc));
        Assert.True(FileHasher.IsAsScanned(path, entry.Size, entry.MtimeTicks));

        Assert.Null(await early.TakeAsync(entry, path));
    }

    [Fact]
    public async Task A_read_is_not_taken_for_a_scan_that_saw_another_size_or_mtime()
    {
        var (path, entry) = WriteAged("big.bin", TestClient.RandomBytes(200_000, 4));
        var index = new Dictionary<string, BaseStat> { ["big.bin"] = new(FileKind.File, 100_000, 1, 1) };
        await using var early = Start(index, Hasher());
        Assert.Equal(1, early.Pending);

        Assert.Null(await early.TakeAsync(entry with { MtimeTicks = entry.MtimeTicks + 1 }, path));
    }

    [Fact]
    public async Task Small_unchanged_young_and_missing_files_and_folders_are_not_read_early()
    {
        var (_, small) = WriteAged("small.bin", TestClient.RandomBytes(500, 5));
        var (_, same) = WriteAged("same.bin", TestClient.RandomBytes(200_000, 6));
        var young = TestClient.RandomBytes(200_000, 7);
        File.WriteAllBytes(Path.Combine(_dir.Path, "young.bin"), young);
        Directory.CreateDirectory(Path.Combine(_dir.Path, "dir"));
        var index = new Dictionary<string, BaseStat>
        {
            ["small.bin"] = new(FileKind.File, 400, 1, 1), // synced small: below the size that pays
            ["same.bin"] = new(FileKind.File, same.Size, same.MtimeTicks, 1), // as synced
            ["young.bin"] = new(FileKind.File, 100_000, 1, 1), // written just now: the pass waits for it
            ["gone.bin"] = new(FileKind.File, 200_000, 1, 1),
            ["dir"] = new(FileKind.Folder, 200_000, 1, 1),
        };
        var hasher = Hasher();

        await using var early = Start(index, hasher);
        await early.ReadsEnded;

        Assert.Equal(0, early.Pending);
        Assert.Equal(0, hasher.FilesRead);
        Assert.True(small.Size < 1024);
    }

    [Fact]
    public async Task A_pass_that_ends_while_a_read_runs_stops_it()
    {
        var (_, entry) = WriteAged("big.bin", TestClient.RandomBytes(8 << 20, 8));
        var index = new Dictionary<string, BaseStat> { ["big.bin"] = new(FileKind.File, 100_000, 1, 1) };
        var early = Start(index, Hasher());
        Assert.Equal(1, early.Pending);

        await early.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(early.ReadsEnded.IsCompletedSuccessfully);
        Assert.Null(await early.TakeAsync(entry, Path.Combine(_dir.Path, "big.bin")));
    }

    [Fact]
    public async Task A_take_never_waits_behind_another_files_read_and_a_fifo_swapped_in_is_never_opened()
    {
        var (_, _) = WriteAged("a.bin", TestClient.RandomBytes(48 << 20, 10));
        var (bPath, _) = WriteAged("b.bin", TestClient.RandomBytes(200_000, 11));
        var (cPath, cEntry) = WriteAged("c.bin", TestClient.RandomBytes(200_000, 12));
        var index = new Dictionary<string, BaseStat>
        {
            ["a.bin"] = new(FileKind.File, 100_000, 1, 1),
            ["b.bin"] = new(FileKind.File, 100_000, 1, 1),
            ["c.bin"] = new(FileKind.File, 100_000, 1, 1),
        };
        var hasher = Hasher();
        var early = Start(index, hasher);
        Assert.Equal(3, early.Pending);

        // While a.bin is read, b.bin becomes a FIFO: opening it for reading would block until a writer comes.
        File.Delete(bPath);
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", bPath))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        // c.bin's read has not started: the take drops it at once (the pass reads the file itself) instead of waiting.
        Assert.Null(await early.TakeAsync(cEntry, cPath).WaitAsync(TimeSpan.FromSeconds(30)));
        await early.ReadsEnded.WaitAsync(TimeSpan.FromSeconds(120));
        await early.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, hasher.FilesRead); // a.bin only: the FIFO was looked at and not opened, c.bin was dropped
    }

    [Fact]
    public async Task An_edited_large_file_is_read_once_in_its_pass_and_synced()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var content = TestClient.RandomBytes((int)EarlyReads.MinSize + 1000, 9);
        a.Write("big.bin", content);
        await a.SyncAsync();
        var readsBefore = a.Engine.FilesHashed;

        var edited = new byte[content.Length + 1];
        edited[0] = 42;
        content.CopyTo(edited, 1);
        a.Write("big.bin", edited);
        var up = await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal(0, up.Errors);
        Assert.Equal(1, up.FilesUploaded);
        Assert.Equal(readsBefore + 1, a.Engine.FilesHashed); // the early read, taken: not read a second time
        Assert.Equal(edited, File.ReadAllBytes(b.PathOf("big.bin")));
    }

    private static FileHasher Hasher() => new(new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: false, parallelism: 2));

    private EarlyReads Start(Dictionary<string, BaseStat> index, FileHasher hasher) =>
        EarlyReads.Start(index, p => Path.Combine(_dir.Path, p), hasher, TimeProvider.System, StableAge, CancellationToken.None, minSize: 1024);

    /// <summary>Writes a file with an mtime a minute ago (older than the stable age) and returns what a scan would see.</summary>
    private (string Path, LocalEntry Entry) WriteAged(string name, byte[] content)
    {
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllBytes(path, content);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-1));
        var info = new FileInfo(path);
        return (path, new LocalEntry(name, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, null));
    }
}
