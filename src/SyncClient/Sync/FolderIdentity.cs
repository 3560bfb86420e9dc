using System.Runtime.InteropServices;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Tells the folder that was synced from another one at the same path (the folder moved away and an empty one made
/// in its place, a drive not mounted leaving its empty mount point). The first pass writes a marker file holding a
/// random id at the root and keeps the id in the db (as Syncthing's <c>.stfolder</c>); every pass first checks that
/// the marker is there and holds that id. If not, the pass stops before it lists or deletes anything: a different
/// folder's missing files are not deletions. <c>sync --confirm-new-folder</c> (or <c>login</c> again) takes the
/// folder as a new one: the db forgets what was synced and the next pass merges it with the server, deleting nothing.
/// </summary>
internal static class FolderIdentity
{
    /// <summary>The marker's name at the root of the sync folder (never synced either way).</summary>
    public const string MarkerName = ".dropbox-folder-id";

    /// <summary>Why a remote entry at the marker's path is refused.</summary>
    public const string MarkerRule = "it is the client's folder marker, which is never synced.";

    /// <summary>Detail key marking a <see cref="DropboxException"/> as this check's stop.</summary>
    public const string DetailKey = "folder-identity";

    /// <summary>The id in the folder's marker, or null when there is none (or it cannot be read).</summary>
    public static string? ReadMarker(string folder)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(folder, MarkerName)).Trim();
            return text.Length == 0 ? null : text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// True when the folder holds the marker the db remembers (or the db remembers none yet, and the folder holds what
    /// the db recorded as synced: see <see cref="HoldsWhatWasSynced"/>; a marker alone does not do: it may be another link's).
    /// </summary>
    public static bool Matches(string folder, LocalState state) =>
        state.GetSetting(StateKeys.FolderId) is { } stored ? ReadMarker(folder) == stored : HoldsWhatWasSynced(folder, state);

    /// <summary>
    /// Before a pass: adopts the folder when the db has no id yet and tracks no file (first sync, after login), goes on
    /// when the marker matches, takes the folder as new when <paramref name="confirmNew"/> (the db forgets the synced
    /// state: the pass merges, deleting nothing), and otherwise throws the stop, saying what happened and what to do.
    /// A db that remembers no id but tracks files (from before markers) has the folder's content checked, whatever
    /// marker is there (a replacement folder may hold another link's); when it passes, <paramref name="adoptAfterPlan"/>
    /// is set: the folder is adopted only by <see cref="AdoptAfterPlan"/>, after a plan that deletes nothing on the server (or was confirmed).
    /// Returns a note for the summary when it took the folder as new.
    /// </summary>
    public static string? Check(string folder, LocalState state, bool confirmNew, out bool adoptAfterPlan)
    {
        adoptAfterPlan = false;
        var stored = state.GetSetting(StateKeys.FolderId);
        var marker = ReadMarker(folder);
        if (stored is not null && marker == stored)
        {
            return null;
        }

        if (stored is null)
        {
            if (state.CountFiles() == 0)
            {
                // First pass on this link (or after login): keep the marker's id if the folder has one, else write one.
                Adopt(folder, state, marker);
                return null;
            }

            // A db from before folder markers remembers no id but does remember files: a folder holding few of them
            // is not taken unless confirmed, and one that does is taken only if this pass deletes nothing remotely.
            if (!confirmNew && HoldsWhatWasSynced(folder, state))
            {
                adoptAfterPlan = true;
                return null;
            }

            if (!confirmNew)
            {
                throw new DropboxException(
                    ErrorKind.Conflict,
                    $"Stopped: the sync folder '{folder}' does not look like the folder that was synced: the client's database is from " +
                    $"before folder markers ({MarkerName}) and more than a tenth of a sample of the files it recorded as synced are not here as recorded. It " +
                    "may have been replaced by another or an empty folder, or a drive is not mounted. Nothing was synced and nothing was deleted. " +
                    "If the synced folder was moved, put it back. To take this folder as a new one (it is merged with the server: files missing " +
                    "here are downloaded, none is deleted), run: sync --confirm-new-folder (or login again)").WithDetail(DetailKey, "1").WithDetail(MassDeleteGuard.DetailKey, "1");
            }
        }
        else if (!confirmNew)
        {
            throw new DropboxException(
                ErrorKind.Conflict,
                $"Stopped: the sync folder '{folder}' is not the folder that was synced (its marker file {MarkerName} is " +
                $"{(marker is null ? "missing" : "another folder's")}); it may have been replaced by an empty folder, or a drive is not mounted " +
                "and its empty mount point is there. Nothing was synced and nothing was deleted. If the synced folder was moved, put it back. " +
                "To take this folder as a new one (it is merged with the server: files missing here are downloaded, none is deleted), run: " +
                "sync --confirm-new-folder (or login again)").WithDetail(DetailKey, "1").WithDetail(MassDeleteGuard.DetailKey, "1");
        }

        state.Writer.ResetSyncState();
        Adopt(folder, state, null);
        return $"'{folder}' was taken as a new folder (--confirm-new-folder): it is merged with the server, nothing is deleted";
    }

    /// <summary>
    /// The first pass of a db from before markers, once planned and not held (the planner holds a plan of such a pass
    /// that deletes on the server unless confirmed: <see cref="DeleteGuard.AdoptingOldDb"/>): the folder is adopted
    /// (its marker's id kept if it has one).
    /// </summary>
    public static void AdoptAfterPlan(string folder, LocalState state) => Adopt(folder, state, ReadMarker(folder));

    /// <summary>Files of the db's that a first pass with an old db (no id remembered) samples, at random.</summary>
    internal const int SampleSize = 100;

    /// <summary>
    /// For a db that remembers no id: true when it tracks no file, or when at most a tenth (rounded up) of a random
    /// sample of the files it tracks are missing from the folder at their path with their recorded size (a folder
    /// replaced by an empty or another one holds few of them; one whose files the user edited or deleted in part
    /// still holds most).
    /// </summary>
    internal static bool HoldsWhatWasSynced(string folder, LocalState state)
    {
        var sample = state.SampleFiles(SampleSize);
        if (sample.Count == 0)
        {
            return true;
        }

        var missing = 0;
        foreach (var (path, size) in sample)
        {
            var info = new FileInfo(Local.SyncPaths.ToFull(folder, path));
            if (!info.Exists || info.Length != size)
            {
                missing++;
            }
        }

        return missing * 10 <= sample.Count + 9;
    }

    /// <summary>Forgets the remembered id: the next pass takes the folder as it finds it (after <c>login</c>).</summary>
    public static void Forget(LocalState state) => state.Writer.SetFolderId(null);

    private static void Adopt(string folder, LocalState state, string? id)
    {
        id ??= Guid.NewGuid().ToString("N");
        var path = Path.Combine(folder, MarkerName);
        File.WriteAllText(path, id + Environment.NewLine);
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
        {
            File.SetAttributes(path, File.GetAttributes(path) | FileAttributes.Hidden);
        }

        state.Writer.SetFolderId(id);
    }
}
