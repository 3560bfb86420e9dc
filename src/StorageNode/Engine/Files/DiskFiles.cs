using Dropbox.Shared.IO;

namespace Dropbox.StorageNode.Engine.Files;

/// <summary>The engine's files on the real file system.</summary>
public sealed class DiskFiles : IEngineFiles
{
    private DiskFiles()
    {
    }

    /// <summary>The one instance.</summary>
    public static DiskFiles Instance { get; } = new();

    /// <inheritdoc />
    public void CreateDirectory(string path)
    {
        // The highest level that is missing: the entries of every level created must be durable, up to the parent
        // of that one (the engine root's own entry, on a first start), or a power loss can take the root away.
        var full = Path.GetFullPath(path);
        string? firstMissing = null;
        for (var dir = full; dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
        {
            firstMissing = dir;
        }

        PrivateFolder.Create(full);
        if (firstMissing is null)
        {
            return;
        }

        for (var dir = full; ; dir = Path.GetDirectoryName(dir)!)
        {
            DirectorySync.Flush(Path.GetDirectoryName(dir)!);
            if (dir == firstMissing)
            {
                break;
            }
        }
    }

    /// <inheritdoc />
    public bool FileExists(string path) => File.Exists(path);

    /// <inheritdoc />
    public IReadOnlyList<string> ListFiles(string directory, string suffix) =>
        Directory.EnumerateFiles(directory, "*" + suffix).ToList();

    /// <inheritdoc />
    public IEngineFile Open(string path, FileMode mode) => DiskFile.Open(path, mode);

    /// <inheritdoc />
    public void Move(string source, string destination) => File.Move(source, destination, overwrite: true);

    /// <inheritdoc />
    public void Delete(string path) => File.Delete(path);

    /// <inheritdoc />
    public void SyncDirectory(string directory) => DirectorySync.Flush(directory);
}
