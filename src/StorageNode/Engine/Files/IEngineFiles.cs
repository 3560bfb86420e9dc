namespace Dropbox.StorageNode.Engine.Files;

/// <summary>
/// The chunk engine's device (as in garnet): the files and directory entries it keeps, and the two barriers that
/// make them durable: <see cref="IEngineFile.Flush"/> for a file's bytes, <see cref="SyncDirectory"/> for the
/// creates, renames and deletes in a directory. <see cref="DiskFiles"/> is the real one; <see cref="MemoryFiles"/>
/// keeps everything in memory and can lose power, dropping whatever was not made durable.
/// </summary>
public interface IEngineFiles
{
    /// <summary>Creates a directory (owner-only) if it is missing; its entry is durable once the parent is synced.</summary>
    void CreateDirectory(string path);

    /// <summary>True if a file exists at the path.</summary>
    bool FileExists(string path);

    /// <summary>Full paths of the files directly in <paramref name="directory"/> whose names end in <paramref name="suffix"/>.</summary>
    IReadOnlyList<string> ListFiles(string directory, string suffix);

    /// <summary>
    /// Opens a file for reading and writing: <see cref="FileMode.Open"/>, <see cref="FileMode.CreateNew"/> or
    /// <see cref="FileMode.Create"/> (truncates). New files are owner-only (0600).
    /// </summary>
    IEngineFile Open(string path, FileMode mode);

    /// <summary>Renames a file, replacing any file at <paramref name="destination"/>.</summary>
    void Move(string source, string destination);

    /// <summary>Deletes a file if it exists.</summary>
    void Delete(string path);

    /// <summary>Makes the entries of a directory durable (fsync of the directory); throws if it cannot.</summary>
    void SyncDirectory(string directory);
}
