using System.Diagnostics;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The steps that change only the db's synced rows (<see cref="SyncActionKind.Record"/>, <see cref="SyncActionKind.RecordFolder"/>,
/// <see cref="SyncActionKind.Touch"/>, <see cref="SyncActionKind.Forget"/>): no file or folder is made, moved or deleted
/// anywhere. Run by <see cref="SyncExecutor"/> with the moves, after the case-conflict renames and new local folders.
/// </summary>
internal static class RowSteps
{
    /// <summary>True for the kinds <see cref="Run"/> handles.</summary>
    public static bool Handles(SyncActionKind kind) =>
        kind is SyncActionKind.Record or SyncActionKind.RecordFolder or SyncActionKind.Touch or SyncActionKind.Forget;

    /// <summary>Runs <paramref name="a"/>, one of the row-only steps, against <paramref name="ctx"/>'s db.</summary>
    public static void Run(SyncContext ctx, SyncAction a)
    {
        switch (a.Kind)
        {
            case SyncActionKind.Record:
                var fp = a.Fingerprint;
                var chunks = fp?.Chunks ?? ctx.State.GetChunks(a.Path);
                var settled = CarriedExecutableBit.Settle(ctx, ctx.FullPath(a.Path), fp is null ? a.Local!.Executable : fp.Executable, a.Base?.Executable, a.Remote!.Executable);
                ctx.Db.RecordFile(new FileRecord(a.Path, FileKind.File, a.Local!.Size, RacyClean.Recorded(a.Local.MtimeTicks, fp?.Racy == true), a.Remote!.Version, fp?.ContentHash ?? a.Base!.ContentHash)
                {
                    Executable = settled,
                    // As read (or, unread, as scanned, the file then being as synced by size and mtime). A ctime moved since (the settle's
                    // chmod, or a write) differs from it, so the next scan reads the file: never "unknown", trusted by size and mtime alone.
                    ChangeTimeNs = FileChangeTime.ToRecord(fp is null ? a.Local.ChangeTimeNs : fp.ChangeTimeNs),
                }, chunks);
                break;
            case SyncActionKind.RecordFolder:
                // Gone from here since the scan: the row stays as it was, and the next pass meets the folder's delete.
                if (Directory.Exists(ctx.FullPath(a.Path)))
                {
                    ctx.Db.RecordFolder(a.Path, a.Remote!.Version);
                }

                break;
            case SyncActionKind.Touch:
                // The ctime the read was verified under (taken before it, unchanged after it).
                ctx.Db.Touch(a.Path, RacyClean.Recorded(a.Local!.MtimeTicks, a.Fingerprint?.Racy == true), FileChangeTime.ToRecord(a.Fingerprint?.ChangeTimeNs));
                break;
            case SyncActionKind.Forget:
                ctx.Db.Forget(a.Path);
                break;
            default:
                throw new UnreachableException($"{a.Kind} of '{a.Path}' is not a row-only step");
        }
    }
}
