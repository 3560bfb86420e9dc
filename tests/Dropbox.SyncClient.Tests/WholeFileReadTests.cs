using System.Diagnostics;
using Dropbox.Shared.Chunking;
using Dropbox.SyncClient.Local;
using Dropbox.Testing;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A small file's read (<see cref="FileHasher.TryReadAsync"/>, its bytes by <see cref="WholeFileRead"/>), on real files: it
/// reads only the file the scan saw, whole, and opens nothing else a path can name.
/// </summary>
public sealed class WholeFileReadTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FileHasher _hasher = new(new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: false, parallelism: 1));

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_as_scanned_is_read_whole_with_the_ctime_statx_gives()
    {
        var (path, bytes, mtime) = Write("f.bin", 5000);

        var read = await _hasher.TryReadAsync(path, bytes.Length, mtime, CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal(bytes, Join(read.Value.Chunks));
        Assert.NotNull(read.Value.Fingerprint.ChangeTimeNs);
        Assert.Equal(FileChangeTime.TryGet(path), read.Value.Fingerprint.ChangeTimeNs);
    }

    [Theory]
    [InlineData(-1, 0)] // the scan saw it one byte shorter: it grew
    [InlineData(1, 0)] // one byte longer: it shrank
    [InlineData(0, 1)] // another mtime: it was written to
    public async Task A_file_not_as_scanned_is_refused(int sizeOff, int mtimeOff)
    {
        var (path, bytes, mtime) = Write("f.bin", 3000);

        var read = await _hasher.TryReadAsync(path, bytes.Length + sizeOff, mtime + (mtimeOff * TimeSpan.TicksPerSecond), CancellationToken.None);

        Assert.Null(read);
    }

    [Theory]
    [InlineData(-1)] // the file is one byte longer than asked
    [InlineData(1)] // one byte shorter
    public void A_read_of_another_length_than_the_file_holds_is_refused(int sizeOff)
    {
        var (path, bytes, _) = Write("f.bin", 3000);
        var data = new byte[bytes.Length + sizeOff];

        Assert.False(WholeFileRead.TryReadExactly(path, data));
        Assert.True(WholeFileRead.TryReadExactly(path, new byte[bytes.Length]));
    }

    [Theory]
    [InlineData(0)] // an empty file: nothing to fill, and nothing past its end
    [InlineData(1)]
    [InlineData(1 << 20)] // the largest file read whole (Uploader.SmallFileSize)
    public void A_file_is_read_exactly_at_its_length_and_refused_one_byte_either_side(int size)
    {
        var (path, bytes, _) = Write("f.bin", size);
        var data = new byte[size];

        Assert.True(WholeFileRead.TryReadExactly(path, data));
        Assert.Equal(bytes, data);
        Assert.False(WholeFileRead.TryReadExactly(path, new byte[size + 1]));
        if (size > 0)
        {
            Assert.False(WholeFileRead.TryReadExactly(path, new byte[size - 1]));
        }
    }

    [Theory]
    [InlineData(5000, 7)] // every read cut to 7 bytes, and none at the end
    [InlineData(1 << 20, 4096)] // the largest file read whole, a page per read
    public unsafe void Reads_cut_short_away_from_the_end_are_read_on_and_the_file_checked_as_before(int size, int most)
    {
        // A FUSE file system (direct I/O) may answer a read with fewer bytes than asked away from the end. Read on from
        // where each ended: the file whole, and a file longer or shorter than asked still refused.
        var (path, bytes, _) = Write("f.bin", size);
        var data = new byte[size];
        _shortReadMost = most;
        _shortReads = 0;

        Assert.True(WholeFileRead.TryReadExactly(path, data, &ShortPRead));
        Assert.Equal(bytes, data);
        Assert.True(_shortReads > size / most, $"{_shortReads} reads: the stand-in did not cut them"); // the test would pass vacuously
        Assert.False(WholeFileRead.TryReadExactly(path, new byte[size + 1], &ShortPRead));
        Assert.False(WholeFileRead.TryReadExactly(path, new byte[size - 1], &ShortPRead));
    }

    [Fact]
    public unsafe void A_read_interrupted_by_a_signal_is_made_again()
    {
        // pread fails with EINTR when a signal lands before it moved a byte: not an error of the file, so read again.
        var (path, bytes, _) = Write("f.bin", 3000);
        var data = new byte[bytes.Length];
        _interrupted = 0;
        _interruptNext = false;

        Assert.True(WholeFileRead.TryReadExactly(path, data, &InterruptedEveryOtherPRead));
        Assert.Equal(bytes, data);
        Assert.Equal(2, _interrupted); // the read that fills the buffer and the one past the end, each once
    }

    [Fact]
    public async Task A_symbolic_link_to_a_file_as_scanned_is_not_followed()
    {
        var (target, bytes, mtime) = Write("target.bin", 2000);
        var link = _dir.Sub("link.bin");
        File.CreateSymbolicLink(link, target);

        Assert.Null(await _hasher.TryReadAsync(link, bytes.Length, mtime, CancellationToken.None));
        Assert.False(WholeFileRead.TryReadExactly(link, new byte[bytes.Length])); // a link swapped in after the check
    }

    [Fact]
    public async Task A_fifo_is_refused_without_waiting_for_a_writer()
    {
        var fifo = _dir.Sub("pipe");
        await SpecialFileTests.MkFifoAsync(fifo);
        var mtime = File.GetLastWriteTimeUtc(fifo).Ticks;

        // A bound on a hang, not a speed check: an open that waits for a writer never returns. The second is the read of a
        // FIFO swapped in after the check: opened without waiting, refused.
        Assert.Null(await _hasher.TryReadAsync(fifo, 0, mtime, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.False(await Task.Run(() => WholeFileRead.TryReadExactly(fifo, [])).WaitAsync(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void A_file_held_under_an_exclusive_lock_by_another_writer_is_read_as_any_file()
    {
        // Intended: no lock guards a file being written, the checks before and after the read do (see WholeFileRead).
        var (path, bytes, _) = Write("locked.bin", 4000);
        using var writer = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var data = new byte[bytes.Length];

        Assert.True(WholeFileRead.TryReadExactly(path, data));
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

            var read = await _hasher.TryReadAsync(fifo, 0, File.GetLastWriteTimeUtc(fifo).Ticks, CancellationToken.None);

            Assert.Null(read);
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
    public async Task A_folder_or_nothing_at_the_path_is_refused()
    {
        var folder = _dir.CreateSub("d");
        var mtime = Directory.GetLastWriteTimeUtc(folder).Ticks;

        Assert.Null(await _hasher.TryReadAsync(folder, 0, mtime, CancellationToken.None));
        Assert.Null(await _hasher.TryReadAsync(_dir.Sub("missing"), 0, mtime, CancellationToken.None));
        Assert.False(WholeFileRead.TryReadExactly(_dir.Sub("missing"), []));
    }

    // The read limit and count of ShortPRead: per thread, since TryReadExactly reads on the thread that calls it.
    [ThreadStatic]
    private static int _shortReadMost;

    [ThreadStatic]
    private static int _shortReads;

    /// <summary>libc's pread, asked for at most <see cref="_shortReadMost"/> bytes.</summary>
    private static unsafe nint ShortPRead(int fd, byte* buffer, nuint count, long offset)
    {
        _shortReads++;
        return WholeFileRead.PRead(fd, buffer, Math.Min(count, (nuint)_shortReadMost), offset);
    }

    [ThreadStatic]
    private static int _interrupted;

    [ThreadStatic]
    private static bool _interruptNext;

    /// <summary>libc's pread, every other call failing first with EINTR as a signal would make it.</summary>
    private static unsafe nint InterruptedEveryOtherPRead(int fd, byte* buffer, nuint count, long offset)
    {
        _interruptNext = !_interruptNext;
        if (_interruptNext)
        {
            _interrupted++;
            System.Runtime.InteropServices.Marshal.SetLastPInvokeError(4); // EINTR
            return -1;
        }

        return WholeFileRead.PRead(fd, buffer, count, offset);
    }

    private static byte[] Join(List<SourceChunk> chunks)
    {
        var bytes = chunks.SelectMany(c => c.Plain.ToArray()).ToArray();
        chunks.ForEach(c => c.Dispose());
        return bytes;
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
