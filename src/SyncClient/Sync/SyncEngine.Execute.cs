using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Grpc.Core;

namespace Dropbox.SyncClient.Sync;

internal sealed partial class SyncEngine
{
    private async Task ExecuteAsync(List<SyncAction> plan, NewFiles newFiles, NewDownloads newDownloads, Dictionary<string, FileRecord> bases, RemoteView remote, SyncSummary summary, CancellationToken ct)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        taken.UnionWith(bases.Keys);
        taken.UnionWith(remote.Changes.Keys);
        taken.UnionWith(newDownloads.Paths);
        string ConflictName(string path)
        {
            lock (taken)
            {
                var name = ConflictNames.Next(path, _ctx.Device, DateOnly.FromDateTime(_ctx.Time.GetLocalNow().DateTime),
                    p => taken.Contains(p) || File.Exists(_ctx.FullPath(p)) || Directory.Exists(_ctx.FullPath(p)));
                taken.Add(name);
                return name;
            }
        }

        using var puts = new SemaphoreSlim(Math.Max(1, _ctx.Options.Parallelism));
        using var gets = new SemaphoreSlim(Math.Max(1, _ctx.Options.Parallelism));
        var uploader = new FileUploader(_ctx, summary, puts);
        var downloader = new FileDownloader(_ctx, summary, gets, ConflictName);
        var exec = new Executor(this, summary, uploader, downloader, ConflictName);

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.Skip))
        {
            summary.AddSkipped();
            if (a.Reason == SyncPlanner.ChangingReason)
            {
                summary.AddPending();

                // A remote change waits here for the local file to settle: keep the cursor where it is, or the next
                // pass would no longer see that change (a file only touched here would then never get it).
                _holdCursor |= remote.Changes.ContainsKey(a.Path);
            }

            summary.AddNote($"skipped '{a.Path}': {a.Reason}");
            _ctx.Progress.Log($"skipped '{a.Path}': {a.Reason}");
        }

        _ctx.Progress.Phase = "applying";
        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.CreateLocalFolder).OrderBy(a => a.Path, StringComparer.Ordinal))
        {
            await exec.RunAsync(a, ct).ConfigureAwait(false);
        }

        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.MoveLocal or SyncActionKind.MoveRemote or SyncActionKind.Record or SyncActionKind.Touch or SyncActionKind.Forget))
        {
            await exec.RunAsync(a, ct).ConfigureAwait(false);
        }

        _ctx.Progress.Phase = "transferring";
        var transfers = plan.Where(a => a.Kind is SyncActionKind.Download or SyncActionKind.Upload or SyncActionKind.Conflict)
            .OrderBy(a => a.Kind == SyncActionKind.Upload ? 1 : 0).ToList();
        await TransferAsync(transfers, exec, summary, puts, ct).ConfigureAwait(false);
        if (newDownloads.Count > 0)
        {
            // Plain new files: many at once (small ones are bound by round trips, not bytes), one barrier per batch.
            var parallelism = Math.Max(1, _ctx.Options.Parallelism) * 4;
            using var batchGets = new SemaphoreSlim(parallelism);
            var batches = new BatchDownloader(_ctx, summary, new FileDownloader(_ctx, summary, batchGets, ConflictName), parallelism);
            foreach (var copy in await batches.DownloadAsync(newDownloads.Files, ct).ConfigureAwait(false))
            {
                await exec.RunAsync(new SyncAction(SyncActionKind.Upload, copy), ct).ConfigureAwait(false);
            }
        }

        foreach (var group in newFiles.Groups(Math.Max(1, _ctx.Options.NewFileGroup)))
        {
            await TransferAsync(group, exec, summary, puts, ct).ConfigureAwait(false);
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.CreateRemoteFolder).OrderBy(a => a.Path, StringComparer.Ordinal))
        {
            await exec.RunAsync(a, ct).ConfigureAwait(false);
        }

        _ctx.Progress.Phase = "deleting";
        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.DeleteLocal or SyncActionKind.DeleteRemote))
        {
            await exec.RunAsync(a, ct).ConfigureAwait(false);
        }

        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.DeleteLocalFolder or SyncActionKind.DeleteRemoteFolder).OrderByDescending(a => a.Path.Length))
        {
            await exec.RunAsync(a, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Small uploads in shared batches, the rest (and whatever the batches hand back) one by one in parallel.</summary>
    private async Task TransferAsync(List<SyncAction> transfers, Executor exec, SyncSummary summary, SemaphoreSlim puts, CancellationToken ct)
    {
        var small = transfers.Where(a => a.Kind == SyncActionKind.Upload && (a.Fingerprint?.Size ?? a.Local?.Size ?? long.MaxValue) <= SmallFileUploader.MaxFileSize).ToList();
        if (small.Count >= 2)
        {
            var handedBack = await new SmallFileUploader(_ctx, summary, puts, _hasher, exec.Uploader.AvoidNodes).UploadAsync(small, ct).ConfigureAwait(false);
            var batched = new HashSet<SyncAction>(small, ReferenceEqualityComparer.Instance);
            batched.ExceptWith(handedBack);
            transfers.RemoveAll(batched.Contains);
        }

        await Parallel.ForEachAsync(transfers, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _ctx.Options.Parallelism), CancellationToken = ct },
            async (a, token) => await exec.RunAsync(a, token).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private sealed class Executor(SyncEngine engine, SyncSummary summary, FileUploader uploader, FileDownloader downloader, Func<string, string> conflictName)
    {
        private readonly StorageFailover _failover = new(engine._ctx.Time);

        /// <summary>The one-file uploader of this pass (the small-file uploader shares its set of nodes to avoid).</summary>
        public FileUploader Uploader => uploader;

        private SyncContext Ctx => engine._ctx;

        public async Task RunAsync(SyncAction a, CancellationToken ct)
        {
            try
            {
                if (a.Kind == SyncActionKind.Upload)
                {
                    await _failover.RunAsync(a.Path, () => RunCoreAsync(a, ct), Ctx.Progress.Log, ct).ConfigureAwait(false);
                }
                else
                {
                    await RunCoreAsync(a, ct).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
            {
                summary.AddError($"{a}: {e.Message}");
                Ctx.Progress.Log($"error: {a}: {e.Message}");
            }
        }

        private async Task RunCoreAsync(SyncAction a, CancellationToken ct)
        {
            switch (a.Kind)
            {
                case SyncActionKind.Upload:
                    if (a.Fingerprint is null && a.Local is { } unread)
                    {
                        // Not hashed yet (no decision needed its content): read once, uploading while it is read.
                        await UploadAsync(a.Path, a.BaseVersion, null, unread, allowRetryAsNew: true, ct).ConfigureAwait(false);
                        break;
                    }

                    var content = a.Fingerprint ?? await engine._hasher.TryHashAsync(Ctx.FullPath(a.Path), ct).ConfigureAwait(false);
                    if (content is null || (a.Fingerprint is null && a.Local is { } scanned && (content.Size != scanned.Size || content.MtimeTicks != scanned.MtimeTicks)))
                    {
                        // Hashed only now, and deleted or written to since the scan judged it settled: nothing is
                        // committed; the next pass judges it afresh (a vanished file is then simply not there).
                        ReportChanged(a.Path);
                        break;
                    }

                    await UploadAsync(a.Path, a.BaseVersion, content, allowRetryAsNew: true, ct).ConfigureAwait(false);
                    break;
                case SyncActionKind.Download:
                    await DownloadAsync(a.Path, a.Local, a.Fingerprint is { Racy: true } ? a.Base?.ContentHash : null, ct).ConfigureAwait(false);
                    break;
                case SyncActionKind.Conflict:
                    await ConflictAsync(a.Path, a.Fingerprint, ct).ConfigureAwait(false);
                    break;
                case SyncActionKind.DeleteRemote:
                    await DeleteRemoteAsync(a.Path, a.BaseVersion, ct).ConfigureAwait(false);
                    break;
                case SyncActionKind.DeleteLocal:
                    DeleteLocal(a);
                    break;
                case SyncActionKind.MoveRemote:
                    await MoveRemoteAsync(a, ct).ConfigureAwait(false);
                    break;
                case SyncActionKind.MoveLocal:
                    MoveLocal(a);
                    break;
                case SyncActionKind.Record:
                    var fp = a.Fingerprint;
                    var chunks = fp?.Chunks ?? Ctx.State.GetChunks(a.Path);
                    Ctx.State.PutFile(new FileRecord(a.Path, FileKind.File, a.Local!.Size, RacyClean.Recorded(a.Local.MtimeTicks, fp?.Racy == true), a.Remote!.Version, fp?.ContentHash ?? a.Base!.ContentHash)
                    {
                        Executable = CarriedExecutableBit.Settle(Ctx, Ctx.FullPath(a.Path), fp is null ? a.Local.Executable : fp.Executable, a.Base?.Executable, a.Remote.Executable),
                    }, chunks);
                    break;
                case SyncActionKind.Touch:
                    Ctx.State.TouchFile(a.Path, RacyClean.Recorded(a.Local!.MtimeTicks, a.Fingerprint?.Racy == true));
                    break;
                case SyncActionKind.Forget:
                    Ctx.State.RemoveFile(a.Path);
                    break;
                case SyncActionKind.CreateLocalFolder:
                    Directory.CreateDirectory(Ctx.WritePath(a.Path));
                    Ctx.State.PutFile(new FileRecord(a.Path, FileKind.Folder, 0, 0, a.Remote?.Version ?? 0, []), null);
                    break;
                case SyncActionKind.CreateRemoteFolder:
                    await CreateRemoteFolderAsync(a.Path, ct).ConfigureAwait(false);
                    break;
                case SyncActionKind.DeleteRemoteFolder:
                    await DeleteRemoteFolderAsync(a, ct).ConfigureAwait(false);
                    break;
                case SyncActionKind.DeleteLocalFolder:
                    DeleteLocalFolder(a.Path);
                    break;
                case SyncActionKind.Skip:
                    break;
            }
        }

        private async Task<FileFingerprint> HashAsync(string path, CancellationToken ct) =>
            await engine._hasher.TryHashAsync(Ctx.FullPath(path), ct).ConfigureAwait(false)
            ?? throw new IOException($"'{path}' changed or vanished while it was read; it will be retried.");

        private Task UploadAsync(string path, ulong baseVersion, FileFingerprint fp, bool allowRetryAsNew, CancellationToken ct) =>
            UploadAsync(path, baseVersion, fp, null, allowRetryAsNew, ct);

        /// <summary>Uploads <paramref name="fp"/>, or with none the file as <paramref name="scanned"/>, read once while it uploads.</summary>
        private async Task UploadAsync(string path, ulong baseVersion, FileFingerprint? fp, LocalEntry? scanned, bool allowRetryAsNew, CancellationToken ct)
        {
            UploadOutcome outcome = default;
            var streamed = false;
            if (fp is null && !engine._noPlanChunks)
            {
                try
                {
                    (outcome, fp) = await uploader.UploadStreamingAsync(path, baseVersion, scanned!, engine._hasher, ct).ConfigureAwait(false);
                    streamed = true;
                }
                catch (DropboxException e) when (e.InnerException is RpcException { StatusCode: StatusCode.Unimplemented })
                {
                    // An older server: its first window was refused before anything was put.
                    engine._noPlanChunks = true;
                    Ctx.Progress.Log($"the server does not plan uploads window by window; '{path}' is hashed first");
                }
            }

            if (!streamed)
            {
                fp ??= await HashAsync(path, ct).ConfigureAwait(false);
                outcome = await uploader.UploadAsync(path, baseVersion, fp, ct).ConfigureAwait(false);
            }

            switch (outcome)
            {
                case UploadOutcome.Committed:
                    Ctx.Progress.FileDone();
                    Ctx.Progress.Log($"uploaded '{path}' ({Format.Bytes(fp!.Size)})");
                    return;
                case UploadOutcome.Changed:
                    ReportChanged(path);
                    return;
            }

            // Refused: the server moved on since our base. If the path is gone remotely, it is simply new again.
            GetDownloadPlanResponse? current = null;
            try
            {
                current = await Ctx.Metadata.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = path, Limit = 1 }, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
            {
            }

            if ((current?.Entry is null || current.Entry.Deleted) && allowRetryAsNew)
            {
                await UploadAsync(path, 0, fp, scanned, allowRetryAsNew: false, ct).ConfigureAwait(false);
                return;
            }

            await ConflictAsync(path, fp, ct).ConfigureAwait(false);
        }

        private void ReportChanged(string path)
        {
            summary.AddSkipped();
            summary.AddPending();
            Ctx.Progress.Log($"'{path}' changed while uploading; retried on the next pass");
        }

        /// <summary>Both sides changed: the local edit moves aside to a conflicted copy (then uploads), the remote takes the path.</summary>
        private async Task ConflictAsync(string path, FileFingerprint? fp, CancellationToken ct)
        {
            // The remote side is checked first (its plan within bounds, its path resolvable): a download that would be
            // refused must not cost the local file its name.
            var plan = await downloader.PlanAsync(path, ct).ConfigureAwait(false);
            var copy = conflictName(path);
            File.Move(Ctx.WritePath(path), Ctx.WritePath(copy));
            summary.AddConflict();
            Ctx.Progress.Log($"conflict: '{path}' changed on both sides; your version is kept as '{copy}'");
            var result = plan is null ? DownloadResult.Gone : await downloader.DownloadAsync(path, null, plan, ct).ConfigureAwait(false);
            if (!result.Placed)
            {
                Ctx.State.RemoveFile(path);
            }

            Ctx.Progress.FileDone();
            // A rename keeps size and mtime: the plan's fingerprint still describes the copy unless the file was
            // written to in between, and then it is read again (else the old chunk list would be committed for it).
            var copyFp = fp is not null && FileUploader.StillAsHashed(Ctx.FullPath(copy), fp) ? fp : await HashAsync(copy, ct).ConfigureAwait(false);
            await UploadAsync(copy, 0, copyFp, allowRetryAsNew: false, ct).ConfigureAwait(false);
            if (result.ConflictCopy is { } second)
            {
                await UploadAsync(second, 0, await HashAsync(second, ct).ConfigureAwait(false), allowRetryAsNew: false, ct).ConfigureAwait(false);
            }
        }

        private async Task DownloadAsync(string path, LocalEntry? expected, byte[]? racyBaseHash, CancellationToken ct)
        {
            var result = await downloader.DownloadAsync(path, expected, racyBaseHash, ct).ConfigureAwait(false);
            Ctx.Progress.FileDone();
            if (result.Placed)
            {
                Ctx.Progress.Log($"downloaded '{path}'");
            }

            if (result.ConflictCopy is { } copy)
            {
                await UploadAsync(copy, 0, await HashAsync(copy, ct).ConfigureAwait(false), allowRetryAsNew: false, ct).ConfigureAwait(false);
            }
        }

        private async Task DeleteRemoteAsync(string path, ulong baseVersion, CancellationToken ct)
        {
            try
            {
                await Ctx.Metadata.DeleteFileAsync(new DeleteFileRequest { Path = path, BaseVersion = baseVersion, Device = Ctx.Device, ExpectedKind = EntryKind.File }, ct).ConfigureAwait(false);
                summary.AddFileDeleted();
                Ctx.Progress.Log($"deleted remotely '{path}'");
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
            {
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.Conflict)
            {
                // Edited remotely since: the edit wins over our delete; it downloads on the next pass.
                summary.AddNote($"'{path}' was deleted here but edited remotely; the remote edit is kept");
                return;
            }

            Ctx.State.RemoveFile(path);
        }

        private void DeleteLocal(SyncAction a)
        {
            var full = Ctx.WritePath(a.Path);
            var info = new FileInfo(full);
            if (info.Exists)
            {
                if (a.Local is null || info.Length != a.Local.Size || info.LastWriteTimeUtc.Ticks != a.Local.MtimeTicks)
                {
                    // Edited since the plan: keep it; the next pass uploads it again.
                    summary.AddNote($"'{a.Path}' was deleted remotely but changed here; kept");
                    return;
                }

                if (a.Fingerprint is { Racy: true })
                {
                    // Read too soon after its last write for size and mtime to prove it unchanged (see RacyClean): it
                    // may hold newer bytes than the synced ones. Keep it for now, and keep the cursor, so the next pass
                    // plans the delete again; once a read past the stable age shows it unchanged, it goes.
                    engine._holdCursor = true;
                    summary.AddPending();
                    summary.AddNote($"'{a.Path}' was deleted remotely but was written here moments ago; it is deleted once it has settled");
                    return;
                }

                var trash = Path.Combine(Ctx.State.StateDirectory, "trash", Ctx.Time.GetUtcNow().ToString("yyyyMMdd"), SyncPaths.ToFull(string.Empty, a.Path));
                if (File.Exists(trash))
                {
                    trash += "." + Guid.NewGuid().ToString("N")[..8];
                }

                Directory.CreateDirectory(Path.GetDirectoryName(trash)!);
                File.Move(full, trash);
                RemoveEmptyParents(a.Path);
            }

            Ctx.State.RemoveFile(a.Path);
            summary.AddFileDeleted();
            Ctx.Progress.Log($"deleted locally '{a.Path}' (kept in the trash under the state directory)");
        }

        private void RemoveEmptyParents(string path)
        {
            var parent = SyncPaths.Parent(path);
            if (parent.Length == 0)
            {
                return;
            }

            // Resolved once, deepest first (no link on the way); each folder above is a prefix of it.
            var dir = Ctx.WritePath(parent);
            for (; parent.Length > 0; parent = SyncPaths.Parent(parent), dir = Path.GetDirectoryName(dir)!)
            {
                if (Ctx.State.GetFile(parent) is not null)
                {
                    return; // a folder the user made explicitly stays
                }

                if (!Directory.Exists(dir) || Directory.EnumerateFileSystemEntries(dir).Any())
                {
                    return;
                }

                Directory.Delete(dir);
            }
        }

        private async Task MoveRemoteAsync(SyncAction a, CancellationToken ct)
        {
            var to = a.ToPath!;
            try
            {
                var moved = await Ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = a.Path, ToPath = to, BaseVersion = a.BaseVersion, Device = Ctx.Device }, ct).ConfigureAwait(false);
                var chunks = a.Fingerprint?.Chunks ?? Ctx.State.GetChunks(a.Path);
                var version = moved.Entry?.Version is > 0 ? moved.Entry.Version : moved.Sequence;
                Ctx.State.RemoveFile(a.Path);
                Ctx.State.PutFile(new FileRecord(to, FileKind.File, a.Local!.Size, RacyClean.Recorded(a.Local.MtimeTicks, a.Fingerprint?.Racy == true), version, a.Fingerprint?.ContentHash ?? a.Base!.ContentHash)
                {
                    // The moved entry is the old one's clone: its bit, so a chmod made with the move is sent next pass.
                    Executable = moved.Entry is { Version: > 0 } entry ? entry.Executable : a.Base?.Executable,
                }, chunks);
                summary.AddFileMoved();
                Ctx.Progress.Log($"moved remotely '{a.Path}' -> '{to}'");
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound or ErrorKind.AlreadyExists)
            {
                // The source changed remotely (or is gone): send the new path as a file and the delete as a delete.
                Ctx.Progress.Log($"'{a.Path}' -> '{to}' could not be moved remotely ({e.Message}); uploading instead");
                await UploadAsync(to, 0, a.Fingerprint ?? await HashAsync(to, ct).ConfigureAwait(false), allowRetryAsNew: false, ct).ConfigureAwait(false);
                await DeleteRemoteAsync(a.Path, a.BaseVersion, ct).ConfigureAwait(false);
            }
        }

        private void MoveLocal(SyncAction a)
        {
            var from = Ctx.WritePath(a.Path);
            var to = Ctx.WritePath(a.ToPath!);
            var info = new FileInfo(from);
            if (!info.Exists || info.Length != a.Local!.Size || info.LastWriteTimeUtc.Ticks != a.Local.MtimeTicks || File.Exists(to) || Directory.Exists(to))
            {
                summary.AddNote($"remote move '{a.Path}' -> '{a.ToPath}' not applied here (local changes); the next pass reconciles it");
                engine._listAllNextPass = true;
                return;
            }

            var chunks = Ctx.State.GetChunks(a.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            _ = Ctx.WritePath(a.ToPath!); // again once the folders exist: none of them may have become a link meanwhile
            File.Move(from, to);
            RemoveEmptyParents(a.Path);
            Ctx.State.RemoveFile(a.Path);
            Ctx.State.PutFile(new FileRecord(a.ToPath!, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, a.Remote!.Version, a.Base!.ContentHash)
            {
                Executable = CarriedExecutableBit.Settle(Ctx, to, a.Local.Executable, a.Base.Executable, a.Remote.Executable),
            }, chunks);
            summary.AddFileMoved();
            Ctx.Progress.Log($"moved locally '{a.Path}' -> '{a.ToPath}'");
        }

        private async Task CreateRemoteFolderAsync(string path, CancellationToken ct)
        {
            ulong version = 0;
            try
            {
                var created = await Ctx.Metadata.CreateFolderAsync(new CreateFolderRequest { Path = path, Device = Ctx.Device }, ct).ConfigureAwait(false);
                version = created.Entry?.Version is > 0 ? created.Entry.Version : created.Sequence;
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.AlreadyExists)
            {
            }

            Ctx.State.PutFile(new FileRecord(path, FileKind.Folder, 0, 0, version, []), null);
        }

        private async Task DeleteRemoteFolderAsync(SyncAction a, CancellationToken ct)
        {
            try
            {
                // Only if empty: a folder deleted here must never take remote files with it (one edited or added
                // elsewhere meanwhile, or one whose delete was just refused because it was edited remotely); and only a
                // folder: the server refuses it when another device has since put a file at this path.
                await Ctx.Metadata.DeleteFileAsync(new DeleteFileRequest { Path = a.Path, BaseVersion = 0, Device = Ctx.Device, OnlyIfEmpty = true, ExpectedKind = EntryKind.Folder }, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.Conflict)
            {
                summary.AddNote($"folder '{a.Path}' was deleted here but remotely still holds files, or is now a file; it is kept and syncs back");
                Ctx.Progress.Log($"kept remote folder '{a.Path}': {e.Message}");
                return;
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.InvalidArgument)
            {
            }

            Ctx.State.RemoveFile(a.Path);
        }

        private void DeleteLocalFolder(string path)
        {
            var dir = Ctx.WritePath(path);
            if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
            {
                Directory.Delete(dir);
            }

            Ctx.State.RemoveFile(path);
        }
    }
}
