using System.Diagnostics;
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
    public async Task A_fifo_is_refused_without_being_opened()
    {
        var fifo = _dir.Sub("pipe");
        await SpecialFileTests.MkFifoAsync(fifo);
        var mtime = File.GetLastWriteTimeUtc(fifo).Ticks;

        // A bound on a hang, not a speed check: an open that waits for a writer never returns.
        var outcome = await Task.Run(() => WholeFileRead.TryRead(fifo, 0, mtime, [], out _)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(WholeReadOutcome.NotAsScanned, outcome);
    }

    [Fact]
    public void A_file_held_under_an_exclusive_lock_by_another_writer_is_read_as_any_file()
    {
        // Intended: no lock guards a file being written, the checks before and after the read do (see WholeFileRead).
        var (path, bytes, mtime) = Write("locked.bin", 4000);
        using var writer = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var data = new byte[bytes.Length];

        Assert.Equal(WholeReadOutcome.Read, WholeFileRead.TryRead(path, bytes.Length, mtime, data, out _));
        Assert.Equal(bytes, data);
    }

    [Fact]
    public async Task A_writer_waiting_on_a_fifo_is_not_released_by_the_read()
    {
        // A writer blocked opening the FIFO (a shell's "> pipe") is released by any reader's open: were the FIFO opened and
        // closed, the writer would write into nothing and exit, and its bytes would be gone.
        var fifo = _dir.Sub("pipe");
        await SpecialFileTests.MkFifoAsync(fifo);
        using var writer = Process.Start("sh", ["-c", $"printf hello > '{fifo}'"])!;
        try
        {
            for (var i = 0; i < 200 && File.ReadAllText($"/proc/{writer.Id}/wchan") != "wait_for_partner"; i++)
            {
                await Task.Delay(50); // until it waits in the FIFO's open (a bound, not a speed check)
            }

            Assert.Equal("wait_for_partner", File.ReadAllText($"/proc/{writer.Id}/wchan"));

            var outcome = WholeFileRead.TryRead(fifo, 0, File.GetLastWriteTimeUtc(fifo).Ticks, [], out _);

            Assert.Equal(WholeReadOutcome.NotAsScanned, outcome);
            Assert.False(writer.WaitForExit(1000), "the read opened the FIFO: the writer was released and wrote into nothing");
            Assert.Equal("hello", await File.ReadAllTextAsync(fifo).WaitAsync(TimeSpan.FromSeconds(60)));
        }
        finally
        {
            if (!writer.HasExited)
            {
                writer.Kill();
            }
        }
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
