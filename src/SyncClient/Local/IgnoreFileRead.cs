namespace Dropbox.SyncClient.Local;

/// <summary>
/// A <c>.dropboxignore</c>'s bytes, read only when it is a regular file (a symbolic link followed to one) of at most
/// <see cref="MaxBytes"/>: one that is a FIFO would block the read until a writer came (the pass hung), a device could be
/// read without end. The scan and the pass's first look at the remembered ignore files both read through here, so they
/// refuse the same files. The kind is told by the checks the hasher makes before it opens a file
/// (<see cref="FileChangeTime.TryStat(string)"/>, else <see cref="FileChangeTime.IsSpecial"/>), and the read is the
/// hasher's (<see cref="FileHasher.TryReadExactly"/>: where it can, an open that neither follows a link nor waits on a
/// FIFO swapped in after the check).
/// </summary>
internal static class IgnoreFileRead
{
    /// <summary>
    /// The most an ignore file may hold: it is a list of rules, and this is far more than any needs, even one generated from
    /// a list of paths (a file refused is a file whose rules are not applied: kept high so a regular one is always read).
    /// </summary>
    public const int MaxBytes = 16 << 20;

    private const int MaxTries = 3;

    /// <summary>
    /// The bytes of the ignore file at <paramref name="fullPath"/>; null when nothing is there (<paramref name="refusal"/>
    /// null) or it is not read (<paramref name="refusal"/> says why: not a regular file, too large, unreadable, or
    /// written to while read every time it was tried).
    /// </summary>
    public static byte[]? TryRead(string fullPath, out string? refusal) => TryRead(fullPath, out refusal, out _);

    /// <summary>
    /// As <see cref="TryRead(string, out string?)"/>, with the stamp of the file read or refused, from the stat the read
    /// was decided on (null where it is not known: nothing there, or no statx): a file refused later with the stamp it was
    /// read with is provably the one read then.
    /// </summary>
    public static byte[]? TryRead(string fullPath, out string? refusal, out IgnoreFileStamp? stamp)
    {
        stamp = null;
        try
        {
            var target = new FileInfo(fullPath).LinkTarget is null ? fullPath : File.ResolveLinkTarget(fullPath, returnFinalTarget: true)?.FullName ?? fullPath;
            for (var tries = 0; tries < MaxTries; tries++)
            {
                long size;
                if (FileChangeTime.TryStat(target) is { } stat)
                {
                    stamp = stat.Inode is { } inode ? new IgnoreFileStamp(stat.Device, inode, stat.Size, stat.MtimeTicks) : null;
                    if (!stat.Exists || !stat.IsRegularFile)
                    {
                        refusal = stat.Exists ? NotRegular : null;
                        return null;
                    }

                    size = stat.Size;
                }
                else
                {
                    stamp = null;
                    var info = new FileInfo(target); // calls a FIFO a file of length 0: IsSpecial tells
                    if (!info.Exists || FileChangeTime.IsSpecial(target))
                    {
                        refusal = info.Exists || Directory.Exists(target) ? NotRegular : null;
                        return null;
                    }

                    size = info.Length;
                }

                if (size > MaxBytes)
                {
                    refusal = $"it holds {size} bytes, more than the {MaxBytes / (1 << 20)} MiB an ignore file may";
                    return null;
                }

                var bytes = new byte[size];
                if (FileHasher.TryReadExactly(target, bytes))
                {
                    refusal = null;
                    return bytes;
                }
            }

            refusal = "it could not be read whole (not permitted, or written to while read)";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            refusal = "unreadable: " + e.Message;
            return null;
        }
    }

    private const string NotRegular = "not a regular file (a FIFO, socket, device or folder, or a link to one)";
}

/// <summary>
/// An ignore file as a stat saw it: device and inode (which file), size and mtime (which content, short of a rewrite with
/// both put back). A file that shows the stamp it was read with is the one read then; any other (replaced, grown, a FIFO
/// or folder in its place) is not.
/// </summary>
internal readonly record struct IgnoreFileStamp(ulong Device, ulong Inode, long Size, long MtimeTicks);
