using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A user's file taken off its name waits under a hidden holding name while it is looked at (<see cref="LocalTrash"/>: a
/// remote delete's file on its way to the trash; an older client's download displaced one so too). A client killed in
/// that window leaves it there: hidden, never swept, never synced. The next pass removes it where it holds the synced
/// bytes (the delete's own case), else keeps it as a conflicted copy beside the name it had, taken like any new file.
/// The engine's pass calls it with what the scan found (<see cref="LocalSnapshot.Displaced"/>) and the index and remote
/// view it compares them with; each leftover kept goes into the snapshot as a new file, with a note in the summary.
/// </summary>
internal sealed class DisplacedFiles
{
    /// <summary>The name a displaced file is kept under, beside it, where its holding name could not carry its own.</summary>
    internal const string FallbackName = "displaced file";

    private readonly SyncContext _ctx;
    private readonly FileHasher _hasher;

    public DisplacedFiles(SyncContext ctx, FileHasher hasher)
    {
        _ctx = ctx;
        _hasher = hasher;
    }

    /// <summary>Tests: runs with the full path of the conflicted-copy name picked for a leftover, right before the move to it.</summary>
    internal Action<string>? BeforeMove { get; set; }

    /// <summary>ENAMETOOLONG (Linux), the code a failed rename's <see cref="IOException.HResult"/> carries (<see cref="FileRename"/>).</summary>
    private const int NameTooLongErrno = 36;

    /// <summary>Most conflicted-copy names tried for one displaced file when each is taken at the moment of the move.</summary>
    private const int MaxDisplacedMoves = 8;

    /// <summary>
    /// A leftover that is bytes the server holds is no file of the user's (the previous version's downloader left one
    /// when killed after finding it unchanged, or after its own download was exchanged into it): removed. Every other one
    /// moves each leftover holding file the scan found (<see cref="LocalSnapshot.Displaced"/>; no download runs beside
    /// the pass: the pass lock) to the conflicted-copy name of the file it displaced (<see cref="ConflictNames"/>), never
    /// over anything (<see cref="FileRename.MoveNew"/>), and adds it to the snapshot as a new file: it syncs like any
    /// conflicted copy. It stays in its own folder, which is the folder of the file it displaced (the holding name is made
    /// beside it), wherever that folder is now. One that cannot be moved stays hidden and is said so; the next pass tries again.
    /// </summary>
    public async Task KeepAsync(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, Stability stability, SyncSummary summary, CancellationToken ct)
    {
        if (snapshot.Displaced.Count == 0)
        {
            return;
        }

        var date = DateOnly.FromDateTime(_ctx.Time.GetLocalNow().DateTime);
        var refused = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (holding, original) in snapshot.Displaced)
        {
            if (await SameAsOnServerAsync(holding, original, index, remote, summary, ct).ConfigureAwait(false) is { } same)
            {
                continue; // not a file of yours: bytes the server holds, removed (or left for the next pass), nothing reported as yours
            }

            var fallback = SyncPaths.Parent(holding) is { Length: > 0 } parent ? parent + "/" + FallbackName : FallbackName;
            var beside = original ?? fallback;
            string? kept = null;
            try
            {
                for (var attempt = 0; attempt < MaxDisplacedMoves && kept is null; attempt++)
                {
                    var copy = ConflictNames.Next(beside, _ctx.Device, date, p => refused.Contains(p) || Path.Exists(_ctx.FullPath(p)) || index.ContainsKey(p)
                        || remote.Changes.ContainsKey(p) || snapshot.Entries.ContainsKey(p) || snapshot.IsWithheld(p));
                    if (beside != fallback && !Dropbox.Shared.Paths.PathRules.TryNormalize(copy, out _, out _))
                    {
                        beside = fallback; // a name the server refuses (too long with the marker, say): one it takes
                        continue;
                    }

                    RenameOutcome outcome;
                    try
                    {
                        BeforeMove?.Invoke(_ctx.FullPath(copy));
                        outcome = FileRename.MoveNewElseMove(_ctx.FullPath(holding), _ctx.FullPath(copy));
                    }
                    catch (IOException e) when (beside != fallback && (e.HResult == NameTooLongErrno || e is PathTooLongException))
                    {
                        beside = fallback; // the carried name and the marker past the file system's limit: the short name
                        continue;
                    }

                    if (outcome == RenameOutcome.Done)
                    {
                        kept = copy;
                    }
                    else
                    {
                        refused.Add(copy); // appeared since it was looked at: the next name
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                summary.AddNote($"a file of yours taken aside (by a download or a delete) before the client stopped is still at '{SyncPaths.Display(holding)}' (hidden) and could not be kept as a conflicted copy ({e.Message}); tried again next pass");
                continue;
            }

            if (kept is null)
            {
                summary.AddNote($"a file of yours taken aside (by a download or a delete) before the client stopped is still at '{SyncPaths.Display(holding)}' (hidden): every conflicted-copy name tried was taken; tried again next pass");
                continue;
            }

            var full = _ctx.FullPath(kept);
            var info = new FileInfo(full);
            summary.AddConflict();
            if (snapshot.Ignore.IsIgnored(kept, isDirectory: false))
            {
                // Visible now, but the folder's .dropboxignore says this name is not synced: left here, not uploaded.
                var ignoredNote = $"conflict: a file of yours taken aside (by a download or a delete) from '{SyncPaths.Display(original ?? SyncPaths.Parent(holding) + "/")}' before the client stopped is kept as '{SyncPaths.Display(kept)}' (ignored here, so not synced)";
                summary.AddNote(ignoredNote);
                _ctx.Progress.Log(ignoredNote);
                continue;
            }

            var note = $"conflict: a file of yours taken aside (by a download or a delete) from '{SyncPaths.Display(original ?? SyncPaths.Parent(holding) + "/")}' before the client stopped is kept as '{SyncPaths.Display(kept)}'";
            summary.AddNote(note);
            _ctx.Progress.Log(note);
            snapshot.Entries[kept] = new LocalEntry(kept, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, stability.SettlesIn(kept, info.LastWriteTimeUtc.Ticks))
            {
                Executable = _ctx.HoldsExecutableBit ? ExecutableBit.TryRead(full) : null,
            };
        }
    }

    /// <summary>
    /// The path whose synced version (the state's record) or whose new remote version this pass (a download's bytes) has
    /// exactly the content of the leftover <paramref name="holding"/>, after the leftover was deleted (unchanged since it
    /// was read): the server holds those bytes under that very path, so nothing of the user's is lost. Only a path the
    /// leftover can have been displaced from counts: the one its name carries (<paramref name="original"/>); where it
    /// carries none, a file of its folder whose new remote version it is, or whose synced version it is while the file
    /// there no longer has its synced stamp (the download went in and was not recorded). A sibling still as synced was
    /// not replaced: a leftover equal to it is a user's save that happens to hold the same bytes (a copy of it), kept.
    /// Null: no such path, or it could not be read or changed meanwhile (then it is kept as a conflicted copy, never
    /// deleted on a guess).
    /// </summary>
    private async Task<string?> SameAsOnServerAsync(string holding, string? original, Dictionary<string, BaseStat> index, RemoteView remote, SyncSummary summary, CancellationToken ct)
    {
        var full = _ctx.FullPath(holding);
        FileFingerprint? read;
        try
        {
            read = await _hasher.TryHashAsync(full, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            read = null; // unreadable: kept as a conflicted copy, never deleted on a guess (and never failing the pass)
        }

        if (read is null)
        {
            return null;
        }

        var folder = SyncPaths.Parent(holding);
        string? same = null;
        foreach (var (path, stat) in index)
        {
            if (stat.Kind == FileKind.File && stat.Size == read.Size && SyncPaths.Parent(path) == folder
                && (original is null ? ReplacedHere(path, stat) || DeletedHereAndThere(path, remote) : path == original)
                && _ctx.State.GetFile(path) is { Kind: FileKind.File } record && record.ContentHash.AsSpan().SequenceEqual(read.ContentHash))
            {
                same = path;
                break;
            }
        }

        foreach (var (path, entry) in same is null ? remote.Changes : [])
        {
            if (entry is { Kind: FileKind.File, Deleted: false } && entry.Size == read.Size && SyncPaths.Parent(path) == folder
                && (original is null || path == original) && entry.ContentHash.AsSpan().SequenceEqual(read.ContentHash))
            {
                same = path;
                break;
            }
        }

        if (same is null || !FileHasher.IsAsScanned(full, read.Size, read.MtimeTicks))
        {
            return null;
        }

        // Into the trash rather than deleted: the server holds the bytes, and the trash keeps them here too.
        _ctx.Step?.Invoke($"before deleting the leftover {holding}");
        string? changedAt;
        try
        {
            changedAt = LocalTrash.TryMoveIn(full, LocalTrash.DayFolder(_ctx.State.StateDirectory, _ctx.Time.GetUtcNow()), same,
                new FileStamp(read.Size, read.MtimeTicks), step: null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _ctx.Progress.Log($"a hidden leftover, '{SyncPaths.Display(holding)}', the same as '{SyncPaths.Display(same)}' on the server, could not be moved to the trash ({e.Message}); tried again next pass");
            return same;
        }

        if (changedAt is not null)
        {
            // Written since it was read: the user's, kept as a conflicted copy (back from the trash first, where a file
            // system without hard links had it renamed there; a rename on that one file system).
            if (changedAt != full)
            {
                try
                {
                    File.Move(changedAt, full);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Its folder renamed or gone meanwhile: the file stays in the trash, and the user is told where.
                    var note = $"a file of yours, a hidden leftover '{SyncPaths.Display(holding)}', changed while it was moved to the trash and could not be put back ({e.Message}); it is at '{changedAt}'";
                    summary.AddNote(note);
                    _ctx.Progress.Log(note);
                    return same;
                }
            }

            return null;
        }

        _ctx.Progress.Log($"moved a hidden leftover, '{SyncPaths.Display(holding)}', to the trash: the same bytes as '{SyncPaths.Display(same)}' on the server");
        return same;
    }

    /// <summary>
    /// True when nothing is at <paramref name="path"/> and the server's changes this pass delete it: what a remote delete
    /// leaves when it took the file aside (<see cref="LocalTrash.TakeAside"/>) under a holding name too long to carry the
    /// file's own, and the client stopped before the trash. The synced bytes are in the path's history on the server.
    /// </summary>
    private bool DeletedHereAndThere(string path, RemoteView remote) =>
        remote.Changes.TryGetValue(path, out var change) && change.Deleted && !Path.Exists(_ctx.FullPath(path));

    /// <summary>
    /// True when a file is at <paramref name="path"/> (a link followed, as the scan reads it) and no longer is as it was
    /// synced (its size, mtime, or a known ctime moved, as the scan's unchanged test): what an older client's download
    /// left there unrecorded. A missing file is not one (the user deleted or moved it), so a leftover equal to its synced
    /// bytes is kept, never taken for that download's.
    /// </summary>
    private bool ReplacedHere(string path, BaseStat stat)
    {
        var full = _ctx.FullPath(path);
        var info = new FileInfo(full);
        return info.Exists && (FileStamp.Of(info) != FileStamp.Of(stat) || FileStamp.ChangeTimeMoved(stat.ChangeTimeNs, FileChangeTime.TryGet(full)));
    }
}
