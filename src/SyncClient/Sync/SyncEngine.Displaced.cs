using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A user's file a download displaced (<see cref="FileDownloader"/>'s exchange) waits under a hidden holding name while
/// it is looked at. A client killed in that window leaves it there: hidden, never swept, never synced. The next pass
/// keeps it as what it would have become, a conflicted copy beside the name it had, and takes it like any new file.
/// </summary>
internal sealed partial class SyncEngine
{
    /// <summary>The name a displaced file is kept under, beside it, where its holding name could not carry its own.</summary>
    internal const string DisplacedFallbackName = "displaced file";

    /// <summary>Most conflicted-copy names tried for one displaced file when each is taken at the moment of the move.</summary>
    private const int MaxDisplacedMoves = 8;

    /// <summary>
    /// Moves each leftover holding file the scan found (<see cref="LocalSnapshot.Displaced"/>; no download runs beside
    /// the pass: the pass lock) to the conflicted-copy name of the file it displaced (<see cref="ConflictNames"/>), never
    /// over anything (<see cref="FileRename.MoveNew"/>), and adds it to the snapshot as a new file: it syncs like any
    /// conflicted copy. It stays in its own folder, which is the folder of the file it displaced (the holding name is made
    /// beside it), wherever that folder is now. One that cannot be moved stays hidden and is said so; the next pass tries again.
    /// </summary>
    private void KeepDisplacedFiles(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, Stability stability, SyncSummary summary)
    {
        if (snapshot.Displaced.Count == 0)
        {
            return;
        }

        var date = DateOnly.FromDateTime(_ctx.Time.GetLocalNow().DateTime);
        var refused = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (holding, original) in snapshot.Displaced)
        {
            var beside = original ?? (SyncPaths.Parent(holding) is { Length: > 0 } parent ? parent + "/" + DisplacedFallbackName : DisplacedFallbackName);
            string? kept = null;
            try
            {
                for (var attempt = 0; attempt < MaxDisplacedMoves && kept is null; attempt++)
                {
                    var copy = ConflictNames.Next(beside, _ctx.Device, date, p => refused.Contains(p) || Path.Exists(_ctx.FullPath(p)) || index.ContainsKey(p)
                        || remote.Changes.ContainsKey(p) || snapshot.Entries.ContainsKey(p) || snapshot.IsWithheld(p));
                    switch (FileRename.MoveNew(_ctx.FullPath(holding), _ctx.FullPath(copy)))
                    {
                        case RenameOutcome.Done:
                            kept = copy;
                            break;
                        case RenameOutcome.NotSupported:
                            File.Move(_ctx.FullPath(holding), _ctx.FullPath(copy)); // refuses an existing name too
                            kept = copy;
                            break;
                        default:
                            refused.Add(copy); // appeared since it was looked at: the next name
                            break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                summary.AddNote($"a file of yours that a download displaced before the client stopped is still at '{SyncPaths.Display(holding)}' (hidden) and could not be kept as a conflicted copy ({e.Message}); tried again next pass");
                continue;
            }

            if (kept is null)
            {
                summary.AddNote($"a file of yours that a download displaced before the client stopped is still at '{SyncPaths.Display(holding)}' (hidden): every conflicted-copy name tried was taken; tried again next pass");
                continue;
            }

            var full = _ctx.FullPath(kept);
            var info = new FileInfo(full);
            summary.AddConflict();
            var note = $"conflict: a file of yours that a download displaced from '{SyncPaths.Display(original ?? SyncPaths.Parent(holding) + "/")}' before the client stopped is kept as '{SyncPaths.Display(kept)}'";
            summary.AddNote(note);
            _ctx.Progress.Log(note);
            snapshot.Entries[kept] = new LocalEntry(kept, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, stability.SettlesIn(kept, info.LastWriteTimeUtc.Ticks))
            {
                Executable = _ctx.HoldsExecutableBit ? ExecutableBit.TryRead(full) : null,
            };
        }
    }
}
