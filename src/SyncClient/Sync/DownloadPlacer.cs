using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The second half of a download (<see cref="FileDownloader"/> stages the bytes): the final checks against the plan, then
/// the rename into place; a local file found changed, or anything that appeared at the name, kept as a conflicted copy.
/// </summary>
/// <remarks>
/// By concern: the checks and the rename to a name expected empty (this file), the replacement of a synced file by
/// exchange and its undoing (<c>DownloadPlacer.Replace.cs</c>).
/// </remarks>
internal sealed partial class DownloadPlacer
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly Func<string, string> _conflictName;

    public DownloadPlacer(SyncContext ctx, SyncSummary summary, Func<string, string> conflictName)
    {
        _ctx = ctx;
        _summary = summary;
        _conflictName = conflictName;
    }

    /// <summary>Test seam: runs in <see cref="PlaceAsync"/> after the checks, just before the rename into place.</summary>
    internal Func<StagedDownload, Task>? BeforeRename { get; set; }

    /// <summary>Test seam: runs as a local file is about to be moved aside to its conflicted-copy name (given its relative path), after the checks.</summary>
    internal Action<string>? BeforeMoveAside { get; set; }

    /// <summary>Tests: runs right after the exchange, the displaced file at the conflicted-copy name, before it is looked at.</summary>
    internal Func<StagedDownload, Task>? BeforeDisplacedCheck { get; set; }

    /// <summary>
    /// The second half of a download, once the barrier made the temp file durable: the final checks (no link on the way,
    /// no folder at the name, the local file as the plan saw it, else it is kept as a conflicted copy), then the rename
    /// into place. The caller makes the folder's entry durable, then records <see cref="PlacedDownload.Record"/>.
    /// </summary>
    /// <remarks>
    /// The rename itself never replaces what the checks did not see (Linux): where the plan expected nothing, it fails if
    /// anything appeared at the name (<see cref="FileRename.MoveNew"/>), which is then kept as a conflicted copy; where
    /// the plan expected a file, it exchanges the two (<see cref="FileRename.Exchange"/>) and looks at the file it
    /// displaced, kept as a conflicted copy unless it is still the one the plan saw. Where renameat2 is not available,
    /// the checks alone stand: a local write between them and the rename is then overwritten (see the README).
    /// </remarks>
    public async Task<PlacedDownload> PlaceAsync(StagedDownload staged, CancellationToken ct)
    {
        var path = staged.Path;
        var full = staged.Full;

        // The record says what was written and checked, never what is at the name once it is there (a local write may
        // land there at once): a caller that skipped SetTime is a bug, refused before anything is moved.
        var written = staged.Written ?? throw new InvalidOperationException($"'{path}' is about to be placed before SetTime noted its size and time.");

        // Checked again before anything is moved: a folder on the way (or the name itself) that became a link while
        // the bytes came in is refused, the local file stays where it is and the temp file is deleted by the caller.
        // A file made in an open folder (a batch's) is renamed there: that folder was reached without following a link,
        // and the rename names it, not a path, so no link put on the way since is followed; a link at the name itself
        // makes the rename find something there, and is then refused below (MoveIntoPlace).
        if (staged.Folder is null)
        {
            _ = _ctx.WritePath(path);
        }

        // Where the plan expected nothing, the rename is the check (no look at the name first: a batch's files are new).
        var local = staged.ExpectedLocal is null && OperatingSystem.IsLinux() ? null : new FileInfo(full);
        string? conflictCopy = null;
        if (local is not null)
        {
            if (IsFolder(local))
            {
                throw FolderHere(path);
            }

            if (await LocalChangedSincePlanAsync(local, staged.ExpectedLocal, staged.RacyBaseHash, ct).ConfigureAwait(false))
            {
                // Never overwrite a local edit the plan did not see: keep it beside the download.
                conflictCopy = KeepAsConflict(path, full);
            }
            else if (local.Exists)
            {
                var seen = FileChangeTime.TryStat(full);
                if (staged.ExpectedChangeTimeNs is { } planned && seen?.CtimeNs is { } ctime && ctime != planned)
                {
                    // Written to since the plan read it, its size and mtime put back (touch -r, cp -p): kept as well.
                    conflictCopy = KeepAsConflict(path, full);
                }
                else
                {
                    // The file found as the plan saw it: the exchange must displace this very one (see ExchangeIntoPlaceAsync).
                    staged.CheckedInode = seen?.Inode;
                }
            }
        }

        // The version's executable bit, before the rename: the file appears with its mode, never without it for a moment.
        // Recorded as read back: where the filesystem cannot hold it, the record matches the file and no pass sends it.
        // Where the folder cannot hold it, nothing is applied and the version's bit is recorded (never compared here).
        // Where the probe could not tell this pass, the bit is applied and read back too (see MayHoldExecutableBit).
        var executable = !_ctx.MayHoldExecutableBit ? staged.Plan.Entry.Executable
            : staged is { Folder: not null, Handle: { } open } ? Local.ExecutableBit.Apply(open, staged.Plan.Entry.Executable)
            : Local.ExecutableBit.Apply(staged.Temp, staged.Plan.Entry.Executable);
        if (BeforeRename is { } beforeRename)
        {
            await beforeRename(staged).ConfigureAwait(false);
        }

        _ctx.Step?.Invoke($"before placing the download of {path}");
        // Replace only a file the checks above found as the plan saw it; else the name is expected empty.
        var expectFile = local is not null && conflictCopy is null && local.Exists;
        conflictCopy = expectFile
            ? await ExchangeIntoPlaceAsync(staged, ct).ConfigureAwait(false)
            : MoveIntoPlace(staged, local is not null) ?? conflictCopy;

        var ids = new List<ChunkId>(staged.Chunks.Count);
        foreach (var chunk in staged.Chunks)
        {
            ids.Add(chunk.Id);
        }

        // The ctime after the last thing that moves it (the chmod, then the rename), read only off the very file written
        // (its inode, where noted) as written. Any other file at the name (one saved over it by a rename just now) is
        // recorded with a ctime no file has, so the next scan reads it once; an unknown one would be trusted by size and
        // mtime alone. Where it cannot be read (no statx): "written without a ctime", which a scan without one trusts and
        // a scan with one reads once (FileChangeTime.ReadWithout).
        var placedCtime = (staged.Folder is { } folder ? folder.TryStat(Path.GetFileName(full)) : FileChangeTime.TryStat(full)) is not { } placedStat ? FileChangeTime.ReadWithout
            : (staged.Inode is null || placedStat.Inode == staged.Inode) && placedStat.IsFileAs(written.Size, written.MtimeTicks) ? FileChangeTime.ToRecord(placedStat.CtimeNs)
            : FileChangeTime.NotVouched;
        var record = new FileRecord(path, FileKind.File, written.Size, written.MtimeTicks, staged.Plan.Entry.Version, FileVersion.ComputeContentHash(ids)) { Executable = executable, ChangeTimeNs = placedCtime };
        return new PlacedDownload(record, conflictCopy);
    }

    /// <summary>
    /// Renames the temp file to a name expected empty; whatever appeared there meanwhile is kept as a conflicted copy
    /// (returned) and the rename tried once more. Where the one-step rename is not available: the check as before
    /// (unless <paramref name="checkedJustNow"/>), then a plain rename.
    /// </summary>
    private string? MoveIntoPlace(StagedDownload staged, bool checkedJustNow)
    {
        string? conflictCopy = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var outcome = staged.Folder is { } folder ? folder.MoveNew(Path.GetFileName(staged.Temp), Path.GetFileName(staged.Full)) : FileRename.MoveNew(staged.Temp, staged.Full);
            if (outcome == RenameOutcome.DestinationExists && staged.Folder is not null)
            {
                // What is there is looked at by path from here on: a link on the way or at the name is refused as before.
                _ = _ctx.WritePath(staged.Path);
            }

            switch (outcome)
            {
                case RenameOutcome.Done:
                    staged.Placed = true;
                    return conflictCopy;
                case RenameOutcome.NotSupported:
                    if (staged.Folder is not null)
                    {
                        _ = _ctx.WritePath(staged.Path); // renamed by path below: looked at for links first, as every path
                    }

                    if (!checkedJustNow)
                    {
                        var local = new FileInfo(staged.Full);
                        if (IsFolder(local))
                        {
                            throw FolderHere(staged.Path);
                        }

                        if (LocalChangedSincePlan(local, staged.ExpectedLocal))
                        {
                            conflictCopy = KeepAsConflict(staged.Path, staged.Full);
                        }
                    }

                    FileRename.Replace(staged.Temp, staged.Full);
                    staged.Placed = true;
                    return conflictCopy;
                case RenameOutcome.DestinationExists when conflictCopy is null:
                    // Made (or changed into something) since the plan: the user's, kept beside the download. In an open
                    // folder, looked at and moved aside there (not by path: the folder may have moved since it was opened).
                    if (staged.Folder is { } open && open.TryStat(Path.GetFileName(staged.Full)) is { } seen ? seen.IsDirectory : IsFolder(new FileInfo(staged.Full)))
                    {
                        throw FolderHere(staged.Path);
                    }

                    conflictCopy = KeepAsConflict(staged.Path, staged.Full, staged.Folder);
                    break;
                default:
                    break;
            }
        }

        // Something appeared at the name again, right after the first was moved aside: left alone, the download not placed.
        throw new DropboxException(ErrorKind.Conflict, $"'{staged.Path}' keeps changing here; the download is left for the next pass and your version kept as '{conflictCopy}'.");
    }

    /// <summary>
    /// Moves the user's file at <paramref name="full"/> to a new conflicted-copy name and says so; returns that name. In
    /// <paramref name="folder"/> (the open folder the download is renamed in) where given.
    /// </summary>
    private string KeepAsConflict(string path, string full, FolderHandle? folder = null)
    {
        var conflictCopy = MoveAside(path, full, folder);
        ReportConflict(path, conflictCopy);
        return conflictCopy;
    }

    /// <summary>
    /// Moves the file at <paramref name="full"/> to a new conflicted-copy name, never over anything there (where the
    /// system cannot say so in one step, as <see cref="File.Move(string, string)"/> does); returns that name.
    /// </summary>
    /// <remarks>
    /// With an open folder <paramref name="folder"/> and the copy's name beside the file: one renameat2 there
    /// (RENAME_NOREPLACE), so the file moved aside is the one in the folder the download goes into, and no link put on
    /// the way after the checks is followed (by path, one could send the rename to a folder outside the sync folder).
    /// </remarks>
    private string MoveAside(string path, string full, FolderHandle? folder = null)
    {
        var conflictCopy = _conflictName(path);
        if (folder is not null && string.Equals(SyncPaths.Parent(conflictCopy), SyncPaths.Parent(path), StringComparison.Ordinal))
        {
            var destination = SyncPaths.Resolve(_ctx.Folder, conflictCopy, _ctx.State.StateDirectory, checkLinks: false); // the name checked, as every path
            BeforeMoveAside?.Invoke(path);
            switch (folder.MoveNew(Path.GetFileName(full), Path.GetFileName(destination)))
            {
                case RenameOutcome.Done:
                    return conflictCopy;
                case RenameOutcome.DestinationExists:
                    throw new IOException($"Could not move '{path}' aside to '{destination}': something is already at that name.");
                default:
                    break; // no one-step rename here: by path below, its links checked first
            }
        }

        var checkedDestination = _ctx.WritePath(conflictCopy);
        BeforeMoveAside?.Invoke(path);
        MoveToNewName(full, checkedDestination, path);
        return conflictCopy;
    }

    /// <summary>Moves <paramref name="source"/> to <paramref name="destination"/>, never over anything there (in one step where the system can).</summary>
    private static void MoveToNewName(string source, string destination, string path)
    {
        if (FileRename.MoveNewElseMove(source, destination) != RenameOutcome.Done)
        {
            throw new IOException($"Could not move '{path}' aside to '{destination}': something is already at that name.");
        }
    }

    private void ReportConflict(string path, string conflictCopy)
    {
        _summary.AddConflict();
        _ctx.Progress.Log($"conflict: '{path}' changed here during the download; your version is kept as '{conflictCopy}'");
    }

    /// <summary>A folder at the name (a link counts when it leads to one, as Directory.Exists would say).</summary>
    private static bool IsFolder(FileInfo local) =>
        local.Attributes is var attributes && (int)attributes != -1 && (attributes & FileAttributes.Directory) != 0;

    private static DropboxException FolderHere(string path) =>
        new(ErrorKind.Conflict, $"'{path}' is a folder here and a file remotely; rename one of them.");

    /// <summary>
    /// <see cref="LocalChangedSincePlan"/>, and for a file the plan took as unchanged on a racy read
    /// (<paramref name="racyBaseHash"/> not null) also true unless a read made now, with its mtime past the stable age,
    /// finds exactly the synced content: a file still too young to prove counts as changed (its bytes are kept as a
    /// conflicted copy rather than overwritten).
    /// </summary>
    internal Task<bool> LocalChangedSincePlanAsync(string full, LocalEntry? expected, byte[]? racyBaseHash, CancellationToken ct) =>
        LocalChangedSincePlanAsync(new FileInfo(full), expected, racyBaseHash, ct);

    /// <summary>As above, for the local file <paramref name="info"/> describes (as it was when it was made).</summary>
    internal async Task<bool> LocalChangedSincePlanAsync(FileInfo info, LocalEntry? expected, byte[]? racyBaseHash, CancellationToken ct)
    {
        if (LocalChangedSincePlan(info, expected))
        {
            return true;
        }

        if (racyBaseHash is null || expected is null || !info.Exists)
        {
            return false;
        }

        var now = await new FileHasher(_ctx.Chunker, _ctx.Time, _ctx.Options.StableAge).TryHashAsync(info.FullName, ct).ConfigureAwait(false);
        return now is null || now.Racy || FileStamp.Of(now) != FileStamp.Of(expected) || !now.ContentHash.AsSpan().SequenceEqual(racyBaseHash);
    }

    /// <summary>True when the local file is not what the plan saw (created, edited; a vanished file is fine to replace).</summary>
    internal static bool LocalChangedSincePlan(string full, LocalEntry? expected) => LocalChangedSincePlan(new FileInfo(full), expected);

    /// <summary>As above, for the local file <paramref name="info"/> describes.</summary>
    internal static bool LocalChangedSincePlan(FileInfo info, LocalEntry? expected)
    {
        if (!info.Exists)
        {
            return false;
        }

        return expected is null || expected.Kind != FileKind.File || FileStamp.Of(info) != FileStamp.Of(expected);
    }
}
