using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// The users' editors (a file held open across steps and written through its handle) and what the end check asks of
/// the places such a write can land in, the trash and hidden holding files.
/// <para>What is owed of a write through an open file depends on where the file was when the user wrote, as the kernel
/// says (<see cref="SimEditor.Where"/>):</para>
/// <list type="bullet">
/// <item>under a name in the folder, or under a hidden holding name beside it (a remote delete taking it aside and
/// looking at it: README, "a write made meanwhile (also through an editor's open handle) puts it back"): owed like any
/// write, in a folder, a conflicted copy or a server version;</item>
/// <item>in the trash under the state directory (on one file system the file is linked into the trash, looked at, and
/// only then loses its held name: LocalTrash, "one through a handle after it lands in the trash file, kept"; the kernel
/// then names the handle's file deleted, and it is found in the trash by its inode), or at the holding name right
/// before the held file is unlinked across file systems (after the copy's last look: LocalTrash, "a write in between
/// goes into the trash too"): owed, and the trash of the device counts as a place for it;</item>
/// <item>nowhere (unlinked: the user or another device deleted it, a download replaced it after finding it as synced,
/// a copy to another file system's trash was looked at for the last time): not owed, nothing can reach those bytes;
/// what the file held before stays owed if it was.</item>
/// </list>
/// </summary>
internal sealed partial class SimWorld
{
    /// <summary>The share of devices whose state directory the seed puts on another file system (when there is one).</summary>
    private const double StateElsewhereShare = 0.35;

    /// <summary>How likely an open editor writes at a step of the engine's that names its file.</summary>
    private const double EditorWriteAtItsStep = 0.3;

    /// <summary>The share of seeds whose agitation starts with a remote delete of a file open in an editor (see <see cref="EditorAgainstDeleteAsync"/>).</summary>
    private const double EditorAgainstDeleteShare = 0.3;

    /// <summary>The share of those seeds whose holder crashes while the file is taken aside (see <see cref="HoldingSteps"/>).</summary>
    private const double PlannedCrashShare = 0.3;

    private const string HeldFileUnlinkStep = "before deleting the held file ";

    /// <summary>
    /// The engine's steps around taking a file off its name or putting another over it (a remote delete's, a download's,
    /// a move's), and right after a delete (the file in the trash, or gone): an open editor writes at these (when they
    /// name its file) more often than at other steps. Not at a db write's or an upload's step: a write there makes the
    /// file an edit to upload, and it would seldom be synced when a remote delete comes.
    /// </summary>
    private static readonly string[] TakingSteps =
    [
        "before trashing ", "after trashing ", "before moving ", "after copying ", HeldFileUnlinkStep, "before putting back ", "after db forget ", "deleted locally ",
        "before deleting the leftover ",
        "before placing the download of ", "download of ", "displaced ", "before local move ", "after local move ", "before conflict rename ",
        "after conflict rename ", "before case-conflict rename ", "after case-conflict rename ",
    ];

    /// <summary>The first of <see cref="TakingSteps"/> that are a remote delete's (taking the file aside to right after the trash).</summary>
    private const int DeleteSteps = 9;

    /// <summary>The steps of a remote delete where a crash leaves the file under its hidden holding name (the next pass deals with the leftover).</summary>
    private static readonly string[] HoldingSteps = ["after trashing ", "before moving ", "after copying ", HeldFileUnlinkStep];

    /// <summary>A crash the seed planned on a device at the first step starting so (see <see cref="EditorAgainstDeleteAsync"/>).</summary>
    private (SimDevice Device, string Step)? _plannedCrash;

    /// <summary>
    /// The one kind of step (an index in <see cref="TakingSteps"/>, a remote delete's) the editors of this seed write at, or
    /// -1: at any of them. A write at one step puts the file back, so the later steps of a delete would seldom meet one if
    /// each step had its chance (the unlink across file systems is the fifth).
    /// </summary>
    private int _editorStep = -1;

    /// <summary>How likely an open editor writes at a step of <see cref="TakingSteps"/> that names its file (see <see cref="_editorStep"/>).</summary>
    private double EditorWriteChance(string step, SimEditor editor) =>
        !step.Contains(editor.Path, StringComparison.Ordinal) && (editor.Held is null || !step.Contains(editor.Held, StringComparison.Ordinal)) ? 0
        : _editorStep >= 0 ? (step.StartsWith(TakingSteps[_editorStep], StringComparison.Ordinal) ? 0.7 : 0)
        : TakingSteps.Any(s => step.StartsWith(s, StringComparison.Ordinal)) ? EditorWriteAtItsStep : 0;

    /// <summary>Owed contents written through an open file that the documented behaviour may leave in the trash only.</summary>
    private readonly HashSet<string> _mayBeInTrash = new(StringComparer.Ordinal);

    private enum EditorPlace
    {
        Folder,
        Held,
        Trash,
        Gone,
        Elsewhere,
    }

    private string OpenEditor(SimDevice device, string path, int op, string? step, bool writeNow = true)
    {
        device.Editor = SimEditor.Open(Full(device, path), path);
        Count("editors opened");
        return $"open {path} in an editor" + (writeNow && _rng.Next(2) == 0 ? "; " + EditorWrite(device, device.Editor, op, step) : string.Empty);
    }

    private string CloseEditor(SimDevice device)
    {
        var path = device.Editor!.Path;
        device.Editor.Dispose();
        device.Editor = null;
        return $"close the editor of {path}";
    }

    /// <summary>
    /// For the share of seeds <see cref="EditorAgainstDeleteShare"/>, the agitation starts with a user opening a synced
    /// file in an editor while another device's user deletes it and syncs: the holder's next pass applies that remote
    /// delete to a file open in an editor (which may write at each of its steps). Left to chance alone, a remote delete
    /// seldom meets a file held open and still as synced (an editor that wrote makes it an edit, which the delete keeps).
    /// </summary>
    private async Task EditorAgainstDeleteAsync()
    {
        var roll = _rng.NextDouble();
        _editorStep = _rng.Next(2) == 0 ? _rng.Next(DeleteSteps) : -1;
        var holder = Devices[_rng.Next(Devices.Count)];
        var others = Devices.Where(d => d != holder).ToList();
        var deleter = others[_rng.Next(others.Count)];
        var files = Entries(holder.Folder, directories: false);
        if (roll >= EditorAgainstDeleteShare || !SimEditor.Supported || holder.Editor is not null || files.Count == 0)
        {
            return;
        }

        var path = files[_rng.Next(files.Count)];
        if (_rng.NextDouble() < PlannedCrashShare)
        {
            // The holder crashes while the file is under its holding name: restarted, its editor holds the leftover the
            // next pass finds (kept as a conflicted copy, or removed where it holds the synced bytes).
            _plannedCrash = (holder, HoldingSteps[_rng.Next(HoldingSteps.Length)] + path);
            Note($"{holder.Name} will crash at '{_plannedCrash.Value.Step}' if it comes");
        }

        var op = ++_ops;
        Clock.Advance(TimeSpan.FromMilliseconds(_rng.Next(10, 3000)));
        Count("user ops");
        Note($"#{op} {holder.Name}: {OpenEditor(holder, path, op, step: null, writeNow: false)}");
        if (!File.Exists(Full(deleter, path)))
        {
            return;
        }

        op = ++_ops;
        Clock.Advance(TimeSpan.FromMilliseconds(_rng.Next(10, 3000)));
        Release(deleter, path);
        File.Delete(Full(deleter, path));
        Count("user ops");
        Note($"#{op} {deleter.Name}: delete {path} (open in an editor elsewhere)");
        await PassAsync(deleter, nested: false);
    }

    /// <summary>True (once) when <paramref name="step"/> is where the seed planned <paramref name="device"/>'s crash; the device is then armed.</summary>
    private bool PlannedCrash(SimDevice device, string step)
    {
        if (_plannedCrash is not { } planned || planned.Device != device || !step.StartsWith(planned.Step, StringComparison.Ordinal) || _depth.Value > 0)
        {
            return false;
        }

        _plannedCrash = null;
        device.CrashArmed = true;
        return true;
    }

    /// <summary>A file of <paramref name="files"/> (this device's) that another device's user holds open under the same path, if any.</summary>
    private string? OpenElsewhere(SimDevice device, List<string> files) =>
        Devices.Where(d => d != device && d.Editor is not null).Select(d => d.Editor!.Path).FirstOrDefault(p => files.BinarySearch(p, StringComparer.Ordinal) >= 0);

    /// <summary>Before the settle: every user saves and closes (a write through a handle during the settle would keep it from ever being quiet).</summary>
    private void CloseEditors()
    {
        foreach (var device in Devices.Where(d => d.Editor is not null))
        {
            Note($"{device.Name}: {CloseEditor(device)}");
        }
    }

    /// <summary>A write through the open file, wherever it is now; owed by where it landed (see the type's summary).</summary>
    private string EditorWrite(SimDevice device, SimEditor editor, int op, string? step)
    {
        var (place, at) = Locate(device, editor);
        var old = editor.Read();
        var append = _rng.Next(2) == 0;
        editor.Write(NewContent(device, op, small: true), append, Clock.GetUtcNow().UtcDateTime);
        var content = editor.Read();
        var line = $"{(append ? "append" : "save")} through the editor of {editor.Path} ({place.ToString().ToLowerInvariant()}{(at is null ? string.Empty : " " + at)})";
        Count("editor writes in the " + place.ToString().ToLowerInvariant()
            + (place == EditorPlace.Folder ? string.Empty : $" ({TakingSteps.FirstOrDefault(s => step?.StartsWith(s, StringComparison.Ordinal) == true)?.TrimEnd() ?? "other"})"));
        if (place == EditorPlace.Elsewhere)
        {
            Fail($"{device.Name}: the editor's file is outside the folder and the trash: {at}");
        }

        if (place is EditorPlace.Gone or EditorPlace.Elsewhere)
        {
            return line + ": no name left, not owed";
        }

        var trashOk = place == EditorPlace.Trash || (place == EditorPlace.Held && step is not null && step.StartsWith(HeldFileUnlinkStep, StringComparison.Ordinal));
        var oldKey = old.Length > 0 ? ContentKey(old) : null;
        var key = content.Length > 0 ? ContentKey(content) : null;
        lock (_lock)
        {
            if (oldKey is not null && _writtenBy.GetValueOrDefault(oldKey) == device.Name)
            {
                _owed.Remove(oldKey); // the user's own overwrite, as an edit by path releases it
            }

            if (key is not null)
            {
                _owed[key] = $"#{op} {device.Name} {editor.Path} through an open file ({place.ToString().ToLowerInvariant()}, {content.Length} B)";
                _writtenBy[key] = device.Name;
                if (trashOk)
                {
                    _mayBeInTrash.Add(key);
                }
                else
                {
                    _mayBeInTrash.Remove(key);
                }
            }
        }

        return line + (trashOk ? ": may stay in the trash" : string.Empty);
    }

    /// <summary>Where the editor's file is now (a name in the folder also becomes <see cref="SimEditor.Path"/>), and the step-independent form of that place for the log.</summary>
    private static (EditorPlace Place, string? At) Locate(SimDevice device, SimEditor editor)
    {
        if (device.EditorFile() is not { } full)
        {
            editor.Held = null;
            return (EditorPlace.Gone, null);
        }

        if (full.StartsWith(device.Folder + "/", StringComparison.Ordinal))
        {
            var relative = Path.GetRelativePath(device.Folder, full).Replace('\\', '/');
            if (TempName.IsDisplaced(Name(relative), out _))
            {
                editor.Held = TempNames.Replace(relative, ".dropbox.tmp-*");
                return (EditorPlace.Held, editor.Held);
            }

            editor.Held = null;

            if (Name(relative).StartsWith(IgnoreMatcher.TempPrefix, StringComparison.Ordinal))
            {
                return (EditorPlace.Elsewhere, TempNames.Replace(relative, ".dropbox.tmp-*"));
            }

            var moved = relative != editor.Path;
            editor.Path = relative;
            return (EditorPlace.Folder, moved ? "now " + relative : null);
        }

        editor.Held = null;
        var trash = Path.Combine(device.StateDirectory, "trash") + "/";
        return full.StartsWith(trash, StringComparison.Ordinal)
            ? (EditorPlace.Trash, Path.GetRelativePath(device.StateDirectory, full).Replace('\\', '/'))
            : (EditorPlace.Elsewhere, full);
    }

    /// <summary>Keeps the editor's path current (the user or the engine may have renamed its file) before a step is matched against it.</summary>
    private static void Follow(SimDevice device)
    {
        if (device.Editor is { } editor)
        {
            Locate(device, editor);
        }
    }

    private void CountStep(SimDevice device, string step)
    {
        if (device.Editor is { } editor && step == "before trashing " + editor.Path)
        {
            Count("remote deletes of a file open in an editor");
        }

        if (step.StartsWith("after copying ", StringComparison.Ordinal))
        {
            Count("trash copies across file systems");
        }
        else if (step.StartsWith("before moving ", StringComparison.Ordinal) && step.EndsWith(" into the trash", StringComparison.Ordinal))
        {
            Count("files moved to the trash");
        }
    }

    /// <summary>Every file in every device's trash, by content key, with where it is (for the lost-content check and its message).</summary>
    private Dictionary<string, string> TrashContents()
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var device in Devices)
        {
            var trash = Path.Combine(device.StateDirectory, "trash");
            if (!Directory.Exists(trash))
            {
                continue;
            }

            foreach (var file in Directory.GetFiles(trash, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                found.TryAdd(ContentKey(File.ReadAllBytes(file)), $"{device.Name}'s trash ({Path.GetRelativePath(device.StateDirectory, file).Replace('\\', '/')})");
            }
        }

        return found;
    }

    /// <summary>
    /// After the settle no hidden holding file may be left in any folder (the scan skips the client's temp names, so the
    /// convergence check cannot see one): a leftover is a user's file no one can find, whatever it holds. Each is looked
    /// inside and reported with the content it holds.
    /// </summary>
    private void CheckLeftovers()
    {
        foreach (var device in Devices)
        {
            foreach (var file in Directory.GetFiles(device.Folder, IgnoreMatcher.TempPrefix + "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var relative = TempNames.Replace(Path.GetRelativePath(device.Folder, file).Replace('\\', '/'), ".dropbox.tmp-*");
                var key = ContentKey(File.ReadAllBytes(file));
                var holds = _owed.GetValueOrDefault(key) ?? "content owed to no one (a synced version, or one a user overwrote)";
                Fail(TempName.IsDisplaced(Path.GetFileName(file), out _)
                    ? $"leftover: {device.Name} still has the hidden holding file {relative} after the settle; it holds {holds}"
                    : $"leftover: {device.Name} still has the client's temp file {relative} after the settle; it holds {holds}");
            }
        }
    }
}
