using Dropbox.SyncClient.Local;
using Dropbox.Testing;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The small-file read by open descriptor (<see cref="WholeFileRead"/>), on real files: it reads only the file the scan saw,
/// whole, and nothing else a path can name.
/// </summary>
public sealed class WholeFileReadTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_file_as_scanned_is_read_whole_with_the_ctime_statx_gives()
    {
        var (path, bytes, mtime) = Write("f.bin", 5000);
        var data = new byte[bytes.Length];

        var outcome = WholeFileRead.TryRead(path, bytes.Length, mtime, data, out var ctime);

        Assert.Equal(WholeReadOutcome.Read, outcome);
        Assert.Equal(bytes, data);
        Assert.NotNull(ctime);
        Assert.Equal(FileChangeTime.TryGet(path), ctime);
    }

    [Theory]
    [InlineData(-1, 0)] // the scan saw it one byte shorter: it grew
    [InlineData(1, 0)] // one byte longer: it shrank
    [InlineData(0, 1)] // another mtime: it was written to
    public void A_file_not_as_scanned_is_refused(int sizeOff, int mtimeOff)
    {
        var (path, bytes, mtime) = Write("f.bin", 3000);
        var data = new byte[bytes.Length + sizeOff];

        var outcome = WholeFileRead.TryRead(path, data.Length, mtime + (mtimeOff * TimeSpan.TicksPerSecond), data, out _);

        Assert.Equal(WholeReadOutcome.NotAsScanned, outcome);
    }

    [Fact]
    public void A_symbolic_link_to_a_file_as_scanned_is_not_followed()
    {
        var (target, bytes, mtime) = Write("target.bin", 2000);
        var link = _dir.Sub("link.bin");
        File.CreateSymbolicLink(link, target);

        var outcome = WholeFileRead.TryRead(link, bytes.Length, mtime, new byte[bytes.Length], out _);

        Assert.Equal(WholeReadOutcome.NotAsScanned, outcome);
    }

    [Fact]
    public async Task A_fifo_is_refused_without_waiting_for_a_writer()
    {
        var fifo = _dir.Sub("pipe");
        await SpecialFileTests.MkFifoAsync(fifo);
        var mtime = File.GetLastWriteTimeUtc(fifo).Ticks;

        // A bound on a hang, not a speed check: an open that waits for a writer never returns.
        var outcome = await Task.Run(() => WholeFileRead.TryRead(fifo, 0, mtime, [], out _)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(WholeReadOutcome.NotAsScanned, outcome);
    }

    [Fact]
    public void A_folder_or_nothing_at_the_path_is_refused()
    {
        var folder = _dir.CreateSub("d");
        var mtime = Directory.GetLastWriteTimeUtc(folder).Ticks;

        Assert.Equal(WholeReadOutcome.NotAsScanned, WholeFileRead.TryRead(folder, 0, mtime, [], out _));
        Assert.Equal(WholeReadOutcome.NotAsScanned, WholeFileRead.TryRead(_dir.Sub("missing"), 0, mtime, [], out _));
    }

    private (string Path, byte[] Bytes, long MtimeTicks) Write(string name, int length)
    {
        var path = _dir.Sub(name);
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return (path, bytes, File.GetLastWriteTimeUtc(path).Ticks);
    }
}
