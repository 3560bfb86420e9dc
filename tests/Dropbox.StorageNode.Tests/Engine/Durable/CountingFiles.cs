using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>Counts file fsyncs and reads over real or in-memory files; the first fsync can be held until a test releases it.</summary>
internal sealed class CountingFiles(IEngineFiles inner) : IEngineFiles
{
    private int _flushes;
    private int _reads;

    /// <summary>File fsyncs so far.</summary>
    public int Flushes => Volatile.Read(ref _flushes);

    /// <summary>File reads so far (one system call each on disk).</summary>
    public int Reads => Volatile.Read(ref _reads);

    /// <summary>When set, a read returns at most this many bytes (a short read, as a file may give).</summary>
    public int? MaxReadBytes { get; set; }

    /// <summary>When set, every fsync waits for it (with a bound) before it runs.</summary>
    public ManualResetEventSlim? Gate { get; set; }

    /// <summary>Signalled when an fsync is waiting at <see cref="Gate"/>.</summary>
    public ManualResetEventSlim Waiting { get; } = new();

    public void ResetCount()
    {
        Volatile.Write(ref _flushes, 0);
        Volatile.Write(ref _reads, 0);
    }

    public void CreateDirectory(string path) => inner.CreateDirectory(path);

    public bool FileExists(string path) => inner.FileExists(path);

    public IReadOnlyList<string> ListFiles(string directory, string suffix) => inner.ListFiles(directory, suffix);

    public IEngineFile Open(string path, FileMode mode) => new CountingFile(this, inner.Open(path, mode));

    public void Move(string source, string destination) => inner.Move(source, destination);

    public void Delete(string path) => inner.Delete(path);

    public void SyncDirectory(string directory) => inner.SyncDirectory(directory);

    private sealed class CountingFile(CountingFiles owner, IEngineFile inner) : IEngineFile
    {
        public long Length => inner.Length;

        public int Read(Span<byte> destination, long offset)
        {
            Interlocked.Increment(ref owner._reads);
            return inner.Read(owner.MaxReadBytes is { } most && destination.Length > most ? destination[..most] : destination, offset);
        }

        public void Write(ReadOnlySpan<byte> source, long offset) => inner.Write(source, offset);

        public void SetLength(long length) => inner.SetLength(length);

        public void Flush()
        {
            if (owner.Gate is { } gate)
            {
                owner.Waiting.Set();
                Assert.True(gate.Wait(TimeSpan.FromSeconds(30)), "the test never released the fsync gate");
            }

            Interlocked.Increment(ref owner._flushes);
            inner.Flush();
        }

        public bool TrySetDirect(bool enable) => inner.TrySetDirect(enable);

        public void Dispose() => inner.Dispose();
    }
}
