using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine.Faults;

/// <summary>Decorator over MemoryFiles with injectable failures.</summary>
internal sealed class FaultyFiles : IEngineFiles
{
    private readonly IEngineFiles _inner;
    public FaultyFiles(IEngineFiles inner) => _inner = inner;
    public Func<string, bool>? FailSync { get; set; }
    public Func<string, bool>? FailMove { get; set; }
    public Func<Task>? BeforeFlush { get; set; } // may block, then throw
    public Action<string>? BeforeWrite { get; set; } // may block, or throw (an injected ENOSPC, say)
    public int Writes;
    public Func<bool>? FailDirectRead { get; set; } // an injected EINVAL from a file system that took O_DIRECT but not the read
    public Action<Span<byte>>? AfterDirectRead { get; set; } // may change what a direct read returned (a file system that lies)
    public int DirectReads; // direct reads the inner file answered
    public int DirectReadAttempts;
    public bool RefuseDirect { get; set; } // a file system that refuses O_DIRECT when a file asks for it
    public Func<bool>? FailDirectWrite { get; set; } // an injected EINVAL from a file system that took O_DIRECT but not the write

    public void CreateDirectory(string path) => _inner.CreateDirectory(path);
    public bool FileExists(string path) => _inner.FileExists(path);
    public IReadOnlyList<string> ListFiles(string d, string s) => _inner.ListFiles(d, s);
    public IEngineFile Open(string path, FileMode mode) => new FaultyFile(this, _inner.Open(path, mode), path);
    public void Move(string s, string d)
    {
        if (FailMove?.Invoke(d) == true) throw new IOException("injected EIO on rename");
        _inner.Move(s, d);
    }
    public Func<string, bool>? FailDelete { get; set; }
    public void Delete(string path)
    {
        if (FailDelete?.Invoke(path) == true) throw new IOException("injected EIO on delete");
        _inner.Delete(path);
    }
    public void SyncDirectory(string directory)
    {
        if (FailSync?.Invoke(directory) == true) throw new IOException("injected EIO on directory fsync");
        _inner.SyncDirectory(directory);
    }

    private sealed class FaultyFile(FaultyFiles owner, IEngineFile inner, string path) : IEngineFile
    {
        private bool _direct;
        public long Length => inner.Length;
        public int Read(Span<byte> d, long o)
        {
            if (!_direct)
            {
                return inner.Read(d, o);
            }

            Interlocked.Increment(ref owner.DirectReadAttempts);
            if (owner.FailDirectRead?.Invoke() == true) throw new IOException("injected EINVAL on a direct read");
            var n = inner.Read(d, o);
            owner.AfterDirectRead?.Invoke(d[..n]);
            Interlocked.Increment(ref owner.DirectReads);
            return n;
        }
        public void Write(ReadOnlySpan<byte> s, long o)
        {
            owner.BeforeWrite?.Invoke(path);
            if (_direct && owner.FailDirectWrite?.Invoke() == true) throw new IOException("injected EINVAL on a direct write");
            Interlocked.Increment(ref owner.Writes);
            inner.Write(s, o);
        }
        public void SetLength(long l) => inner.SetLength(l);
        public void Flush()
        {
            if (path.EndsWith(Segment.FramedExtension, StringComparison.Ordinal) && owner.BeforeFlush is { } hook)
            {
                hook().GetAwaiter().GetResult();
            }
            inner.Flush();
        }
        public bool TrySetDirect(bool enable)
        {
            var ok = !(enable && owner.RefuseDirect) && inner.TrySetDirect(enable);
            _direct = ok ? enable : _direct;
            return ok;
        }
        public void Dispose() => inner.Dispose();
    }
}
