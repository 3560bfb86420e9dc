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
    public void CreateDirectory(string path) => PrivateFolder.Create(path);

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
