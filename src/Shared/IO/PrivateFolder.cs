namespace Dropbox.Shared.IO;

/// <summary>
/// Folders that hold data, keys or client state: owner-only (0700) on Unix, so no other local account can list or
/// read what is beneath, whatever mode the files inside were created with (RocksDB's, say). Folders that already
/// exist with looser modes are tightened.
/// </summary>
public static class PrivateFolder
{
    /// <summary>rwx for the owner only.</summary>
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates the folder (and any missing parents) owner-only, or tightens it if it exists.</summary>
    public static void Create(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        // Every level created here is owner-only (CreateDirectory with a mode sets it on the last level only).
        var missing = new Stack<string>();
        for (var dir = Path.GetFullPath(path); !Directory.Exists(dir); dir = Path.GetDirectoryName(dir)!)
        {
            missing.Push(dir);
        }

        while (missing.TryPop(out var dir))
        {
            Directory.CreateDirectory(dir, Mode);
            Tighten(dir);
        }

        Tighten(path);
    }

    /// <summary>Sets an existing folder to 0700 if it is anything else.</summary>
    public static void Tighten(string path)
    {
        if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(path) != Mode)
        {
            File.SetUnixFileMode(path, Mode);
        }
    }

    /// <summary>
    /// Creates or tightens the folder, then takes group and other access off every folder (0700) and file (0600)
    /// beneath it: data written by an older version, or restored from a backup, is no more readable than new data.
    /// </summary>
    public static void CreateAndTightenTree(string path)
    {
        Create(path);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        foreach (var entry in new DirectoryInfo(path).EnumerateFileSystemInfos("*", new EnumerationOptions
                 {
                     RecurseSubdirectories = true,
                     AttributesToSkip = FileAttributes.ReparsePoint,
                     IgnoreInaccessible = true,
                 }))
        {
            TightenEntry(entry);
        }
    }

    /// <summary>
    /// Sets one entry of a walk to 0700 (folder) or 0600 (file). An entry that vanished since it was listed (a
    /// running node's RocksDB deletes its old files) is skipped: there is nothing left to protect.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static void TightenEntry(FileSystemInfo entry)
    {
        try
        {
            var wanted = entry is DirectoryInfo ? Mode : PrivateFile.Mode;
            if ((entry.Attributes & FileAttributes.ReparsePoint) == 0 && entry.UnixFileMode != wanted)
            {
                entry.UnixFileMode = wanted;
            }
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
        }
    }
}
