using Dropbox.Shared.IO;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.StorageNode.Engine.Files;

/// <summary>A real file: <see cref="RandomAccess"/> over a handle, with <c>O_DIRECT</c> toggled by fcntl on Linux.</summary>
internal sealed class DiskFile : IEngineFile
{
    private readonly SafeFileHandle _handle;

    private DiskFile(SafeFileHandle handle) => _handle = handle;

    /// <inheritdoc />
    public long Length => RandomAccess.GetLength(_handle);

    public static DiskFile Open(string path, FileMode mode)
    {
        if (mode is not (FileMode.Open or FileMode.CreateNew or FileMode.Create))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Open, CreateNew or Create.");
        }

        var handle = File.OpenHandle(path, mode, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        if (mode != FileMode.Open)
        {
            try
            {
                PrivateFile.Restrict(handle);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        return new DiskFile(handle);
    }

    /// <inheritdoc />
    public int Read(Span<byte> destination, long offset) => RandomAccess.Read(_handle, destination, offset);

    /// <inheritdoc />
    public void Write(ReadOnlySpan<byte> source, long offset) => RandomAccess.Write(_handle, source, offset);

    /// <inheritdoc />
    public void SetLength(long length) => RandomAccess.SetLength(_handle, length);

    /// <inheritdoc />
    public void Flush() => RandomAccess.FlushToDisk(_handle);

    /// <inheritdoc />
    public bool TrySetDirect(bool enable) => DirectIo.TrySet(_handle, enable);

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

}
