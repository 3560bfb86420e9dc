using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

public sealed class DirectFileWriterTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<int, int, bool> Cases => new()
    {
        { 0, 1000, true },
        { 1, 1, true },
        { DirectIo.BlockSize - 1, 7, true },
        { DirectIo.BlockSize, DirectIo.BlockSize, true },
        { DirectFileWriter.StagingBytes, 1 << 20, true },
        { DirectFileWriter.StagingBytes + 1, 65_537, true },
        { (2 * DirectFileWriter.StagingBytes) + DirectIo.BlockSize + 123, 1_000_003, true },
        { (2 * DirectFileWriter.StagingBytes) + DirectIo.BlockSize + 123, 1_000_003, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bytes_written_in_pieces_read_back_identical_and_the_file_ends_at_the_last_byte(int length, int piece, bool preferDirect)
    {
        // Arrange
        var content = TestClient.RandomBytes(length, length ^ piece);
        var path = Path.Combine(_dir.Path, "out.bin");
        using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous);

        // Act
        await using (var writer = DirectFileWriter.Open(handle, preferDirect))
        {
            for (var offset = 0; offset < length; offset += piece)
            {
                await writer.WriteAsync(content.AsMemory(offset, Math.Min(piece, length - offset)), CancellationToken.None);
            }

            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(length, writer.Length);
            Assert.False(writer.IsDirect && !preferDirect);
        }

        handle.Dispose();

        // Assert
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task On_ext4_or_xfs_whole_buffers_go_to_the_device_directly_and_only_the_tail_through_the_page_cache()
    {
        var path = Path.Combine(_dir.Path, "probe.bin");
        var type = OperatingSystem.IsLinux() ? DurabilityBarrier.FileSystemType(DirectorySync.RealPath(_dir.Path), File.ReadAllText("/proc/self/mountinfo")) : null;
        if (type is not ("ext4" or "xfs"))
        {
            return; // elsewhere the writer may be buffered (covered above)
        }

        var content = TestClient.RandomBytes((2 * DirectFileWriter.StagingBytes) + DirectIo.BlockSize + 10, 5);
        using (var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous))
        {
            await using var writer = DirectFileWriter.Open(handle);
            await writer.WriteAsync(content, CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);

            Assert.Equal((2 * DirectFileWriter.StagingBytes) + DirectIo.BlockSize, writer.DirectBytes);
            Assert.False(writer.IsDirect); // the tail turned it off
        }

        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }
}
