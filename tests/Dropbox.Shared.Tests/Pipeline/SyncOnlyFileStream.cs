namespace Dropbox.Shared.Tests.Pipeline;

/// <summary>
/// A file opened as the sync client opens one (unbuffered, asynchronous handle) whose asynchronous reads fail: proves a
/// reader reads it synchronously. Counts the synchronous reads.
/// </summary>
internal sealed class SyncOnlyFileStream(string path) : FileStream(path, new FileStreamOptions
{
    Mode = FileMode.Open,
    Access = FileAccess.Read,
    Share = FileShare.ReadWrite | FileShare.Delete,
    BufferSize = 0,
    Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
})
{
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    public override int Read(Span<byte> buffer)
    {
        Interlocked.Increment(ref _reads);
        return base.Read(buffer);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("read asynchronously");

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("read asynchronously");
}
