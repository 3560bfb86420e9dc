namespace Dropbox.Shared.IO;

/// <summary>
/// Replaces a small file atomically and durably: write a temp file (0600), fsync it, rename it over the target,
/// fsync the directory. After a crash the file holds either the old or the new bytes, never a mix or nothing.
/// </summary>
public static class AtomicFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, PrivateFile.CreateOptions()))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }

        PrivateFile.Restrict(temp);
        FileRename.Replace(temp, path);
        DirectorySync.Flush(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Replaces <paramref name="path"/> with UTF-8 <paramref name="text"/>.</summary>
    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));
}
