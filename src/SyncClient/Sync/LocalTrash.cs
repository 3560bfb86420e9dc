using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The trash under the state directory, where a remote delete applied here puts the file. The file is first taken off
/// its name by a rename beside it (<see cref="TakeAside"/>: one step on its own file system, whatever file system the
/// trash is on); the caller then checks what the rename took, and only a file still as synced goes on to the trash
/// (<see cref="TryMoveIn"/>). A client killed in between leaves a hidden holding file that the next pass keeps as a
/// conflicted copy, or removes where it holds the synced bytes (<see cref="DisplacedRules"/>, <see cref="DisplacedFiles"/>).
/// </summary>
internal static class LocalTrash
{
    /// <summary>EXDEV (Linux), a failed rename's <see cref="IOException.HResult"/>: the trash is on another file system.</summary>
    private const int CrossDeviceErrno = 18;

    /// <summary>
    /// Renames <paramref name="full"/> to a new hidden holding name in its own folder and returns that name's full path. A
    /// process writing to the file through a handle it holds keeps writing to the held file, so a check of the held file
    /// after this sees every write up to it.
    /// </summary>
    public static string TakeAside(string full)
    {
        var holding = Path.Combine(Path.GetDirectoryName(full)!, TempName.NewDisplaced(Path.GetFileName(full)));
        if (FileRename.MoveNewElseMove(full, holding) != RenameOutcome.Done)
        {
            throw new IOException($"could not take '{full}' aside: a file is already at the new random name '{holding}'");
        }

        return holding;
    }

    /// <summary>The trash's folder for files deleted on the day of <paramref name="now"/> (UTC).</summary>
    public static string DayFolder(string stateDirectory, DateTimeOffset now) => Path.Combine(stateDirectory, "trash", now.ToString("yyyyMMdd"));

    /// <summary>
    /// Moves the held file into the day's trash folder <paramref name="day"/>, at its relative path <paramref name="path"/>
    /// (with a random suffix where that name is taken; under a new random folder of the day where the path cannot be made:
    /// a file of the day's trash in the way of a folder it needs, <c>x</c> deleted and then <c>x/y.txt</c>), and checks it
    /// is still <paramref name="synced"/> after the move: null when it is (deleted: in the trash), else the path it is at
    /// now (the held name, or its place in the trash) for the caller to put back.
    /// <para>On one file system the file gets its name in the trash as a second name (a hard link), is looked at, and only
    /// then loses its held name: a write up to the look keeps it in the folder; one through a handle after it lands in
    /// the trash file, kept; a client killed on the way leaves it held in the folder. Without hard links (vfat) a
    /// rename, looked at after it, put back from the trash. Across file systems a copy, looked at through the handle the
    /// copy read with; the held file is unlinked only after that look, and the handle is looked at again after the
    /// unlink: a write in between goes into the trash too (a new copy renamed over the first). <paramref name="step"/>
    /// (tests) runs with "after copying" right after such a copy and "before deleting the held file" right before the
    /// unlink.</para>
    /// </summary>
    public static string? TryMoveIn(string holding, string day, string path, FileStamp synced, Action<string>? step)
    {
        var relative = SyncPaths.ToFull(string.Empty, path);
        var trash = Path.Combine(day, relative);
        if (File.Exists(trash))
        {
            trash += "." + Guid.NewGuid().ToString("N")[..8];
        }

        try
        {
            return MoveIn(holding, trash, synced, step);
        }
        catch (IOException) when (File.Exists(holding))
        {
            // The path cannot be made (or a folder took its name): elsewhere in the day's trash. A full or read-only
            // disk fails there too, and that error is the caller's.
            return MoveIn(holding, Path.Combine(day, "~" + Guid.NewGuid().ToString("N")[..8], relative), synced, step);
        }
    }

    private static string? MoveIn(string holding, string trash, FileStamp synced, Action<string>? step)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(trash)!);
        try
        {
            // On the folder's own file system: a second name in the trash first, then the look, then the held name goes.
            // The file is in the folder (under its holding name) until the last step, so a client killed on the way
            // leaves it where the next pass finds it (DisplacedFiles), never only in the trash.
            var linked = FileRename.LinkNew(holding, trash);
            if (linked == RenameOutcome.DestinationExists)
            {
                trash += "." + Guid.NewGuid().ToString("N")[..8]; // taken meanwhile in the trash: another name there
                linked = FileRename.LinkNew(holding, trash);
            }

            switch (linked)
            {
                case RenameOutcome.Done when FileStamp.Of(new FileInfo(holding)) != synced:
                    File.Delete(trash); // written meanwhile: the trash's name goes, the file stays held for the caller
                    return holding;
                case RenameOutcome.Done:
                    File.Delete(holding);
                    return null;
                case RenameOutcome.DestinationExists:
                    throw new IOException($"could not move '{holding}' into the trash: a file is already at the new random name '{trash}'");
            }

            // No hard links here (vfat, say): a rename, checked after it; a changed file is put back from the trash.
            if (FileRename.MoveNewElseMove(holding, trash) != RenameOutcome.Done)
            {
                throw new IOException($"could not move '{holding}' into the trash: something is already at '{trash}'");
            }
        }
        catch (IOException e) when (e.HResult == CrossDeviceErrno)
        {
            return CopyIn(holding, trash, synced, step);
        }

        // The rename keeps size and mtime: a write up to it shows here, and the file goes back.
        return FileStamp.Of(new FileInfo(trash)) == synced ? null : trash;
    }

    /// <summary>Most copies into the trash of a file written again while it was being copied, after its unlink.</summary>
    private const int MaxRecopies = 3;

    private static string? CopyIn(string holding, string trash, FileStamp synced, Action<string>? step)
    {
        using var source = new FileStream(holding, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.SequentialScan);
        var copy = new FileStream(trash, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        FileStamp copied;
        try
        {
            using (copy)
            {
                source.CopyTo(copy);
            }

            step?.Invoke("after copying");
            copied = StampOf(source);
            if (copied != synced)
            {
                File.Delete(trash); // written during the copy: the held file is the user's, the copy is not
                return holding;
            }

            step?.Invoke("before deleting the held file");
            File.Delete(holding);
        }
        catch when (File.Exists(holding))
        {
            TryDelete(trash); // the copy this call created (CreateNew above), partial; the held file is still whole
            throw;
        }

        // Written between the look and the unlink, through a handle: the handle still reads the unlinked file, and what it
        // holds now replaces the trash's copy (a new copy renamed over it, so a failure leaves the copy there whole), as a
        // rename on one file system would have kept it.
        for (var i = 0; i < MaxRecopies; i++)
        {
            var now = StampOf(source);
            if (now == copied)
            {
                break;
            }

            var again = trash + ".copy-" + Guid.NewGuid().ToString("N")[..8];
            try
            {
                using (var into = new FileStream(again, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                {
                    source.Position = 0;
                    source.CopyTo(into);
                }

                File.Move(again, trash, overwrite: true);
            }
            catch
            {
                TryDelete(again);
                throw;
            }

            copied = now;
        }

        return null;
    }

    private static FileStamp StampOf(FileStream file) =>
        new(RandomAccess.GetLength(file.SafeFileHandle), File.GetLastWriteTimeUtc(file.SafeFileHandle).Ticks);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the copy's own partial file: the trash keeps it, nothing of the folder's is lost
        }
    }
}
