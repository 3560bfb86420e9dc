using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Local;

/// <summary>A path as found in the sync folder by a scan (stat only; content is read only when needed).</summary>
internal sealed record LocalEntry(string Path, FileKind Kind, long Size, long MtimeTicks, TimeSpan? SettlesIn)
{
    /// <summary>
    /// The owner-executable bit (<see cref="ExecutableBit"/>); false for folders, null (unknown) where the folder cannot
    /// hold it (<see cref="ExecutableBitProbe"/>): an unknown bit is never compared nor sent.
    /// </summary>
    public bool? Executable { get; init; }

    /// <summary>A file's inode change time (ns, <see cref="FileChangeTime"/>) as the scan read it; null where not read.</summary>
    public long? ChangeTimeNs { get; init; }

    /// <summary>
    /// The stability observation of a file (see <see cref="Stability"/>), made with the stat the entry holds: null when
    /// it is settled (or not observed: folders, a scan without the rule), else how soon it could be judged settled. The
    /// planner decides what it means (a changed file that is not settled waits: <c>SyncPlanner.Waits</c>). A constructor
    /// parameter with no default: an entry built anywhere states it, so none passes off a fresh mtime as settled.
    /// </summary>
    public TimeSpan? SettlesIn { get; init; } = SettlesIn;

    /// <summary>
    /// Where this pass reads the file's bytes when not at <see cref="Path"/>: a file the plan renames here before anything
    /// else of the pass runs (a case clash's loser, <see cref="Sync.SyncActionKind.CaseRenameLocal"/>) is planned under its
    /// new name and read, before the plan, at its old one. Null: at <see cref="Path"/>.
    /// </summary>
    public string? ReadAt { get; init; }

    /// <summary>A folder's entry: folders are not observed (the files in them are).</summary>
    public static LocalEntry Folder(string path) => new(path, FileKind.Folder, 0, 0, SettlesIn: null);
}
