using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// A user's editor holding one file open across simulation steps (a log appender, an editor that saves in place): its
/// writes go to whatever the file has become since it was opened (renamed by the user or the client, taken aside to a
/// hidden holding name, moved into the trash, or unlinked), never to whatever is at the name now. Where the open file
/// is, is read back from the kernel (<c>/proc/self/fd</c>, and the inode for a second name in the trash), so the world
/// can tell which of those a write landed in.
/// </summary>
internal sealed class SimEditor : IDisposable
{
    private readonly FileStream _stream;

    private SimEditor(FileStream stream, string path)
    {
        _stream = stream;
        Path = path;
    }

    /// <summary>False where the kernel cannot say where an open file is (no /proc): the simulated users then open no editor.</summary>
    public static bool Supported { get; } = OperatingSystem.IsLinux() && Directory.Exists("/proc/self/fd");

    /// <summary>The folder path (relative, '/'-separated) the file was opened at or last seen at under a visible name.</summary>
    public string Path { get; set; }

    /// <summary>The hidden holding name (its random digits as '*') the file was last seen under, or null when it was under a visible name.</summary>
    public string? Held { get; set; }

    /// <summary>Opens the file at <paramref name="full"/> as an editor does: read and write, sharing both, the name free to change.</summary>
    public static SimEditor Open(string full, string path) =>
        new(new FileStream(full, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 4096), path);

    /// <summary>
    /// The full path of the name the file was opened under, wherever that name has moved since, or null once that name is
    /// gone (the file may still have another: a hard link, see <see cref="SimDevice.EditorFile"/>).
    /// </summary>
    public string? Where()
    {
        var target = new FileInfo($"/proc/self/fd/{_stream.SafeFileHandle.DangerousGetHandle()}").LinkTarget;
        return target is null || target.EndsWith(" (deleted)", StringComparison.Ordinal) ? null : target;
    }

    /// <summary>The open file's inode number, null where it cannot be read.</summary>
    public ulong? Inode => FileChangeTime.TryInode(_stream.SafeFileHandle);

    /// <summary>The file's bytes as the handle reads them now.</summary>
    public byte[] Read()
    {
        var bytes = new byte[RandomAccess.GetLength(_stream.SafeFileHandle)];
        var read = RandomAccess.Read(_stream.SafeFileHandle, bytes, 0);
        return bytes[..read];
    }

    /// <summary>
    /// Writes through the handle: the whole file replaced by <paramref name="content"/> (a save in place) or
    /// <paramref name="content"/> appended, then the mtime set to the simulated clock's <paramref name="now"/> (what the
    /// kernel does with its own clock on every write; the world's clock keeps the run reproducible).
    /// </summary>
    public void Write(byte[] content, bool append, DateTime now)
    {
        var handle = _stream.SafeFileHandle;
        var at = append ? RandomAccess.GetLength(handle) : 0;
        if (!append)
        {
            RandomAccess.SetLength(handle, 0);
        }

        RandomAccess.Write(handle, content, at);
        File.SetLastWriteTimeUtc(handle, now);
    }

    public void Dispose() => _stream.Dispose();
}
