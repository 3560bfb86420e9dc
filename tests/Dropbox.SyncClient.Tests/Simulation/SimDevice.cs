using Dropbox.Shared.Chunking;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// One simulated computer: a real folder and a real SQLite db (on tmpfs when there is one) and the real engine, whose
/// network is a <see cref="SimRemote"/> and whose clock is the world's. A crash copies the folder and the state
/// directory as they are on disk at that moment (at a remote call, a durability barrier, a progress line, right before
/// or after a local db write, or around a local rename or delete); the restart throws away whatever the abandoned engine
/// did after it. The state directory is on another file system than the folder where the seed says so (see
/// <see cref="SimFileSystems"/>): the trash is then a copy across file systems.
/// </summary>
internal sealed class SimDevice : IDisposable
{
    private readonly SimWorld _world;
    private readonly FakeServer _server;
    private readonly string _root;
    private readonly string _stateRoot;

    /// <param name="stateRoot">Where the state directory goes: <paramref name="root"/>, or a folder on another file system.</param>
    public SimDevice(SimWorld world, FakeServer server, string root, string stateRoot, string name)
    {
        _world = world;
        _server = server;
        _root = root;
        _stateRoot = stateRoot;
        Name = name;
        Folder = Path.Combine(root, name + "-folder");
        StateDirectory = Path.Combine(stateRoot, name + "-state");
        Directory.CreateDirectory(Folder);
        Open();
    }

    /// <summary>True when the state directory (and so the trash) is on another file system than the folder.</summary>
    public bool StateElsewhere => _stateRoot != _root;

    /// <summary>The file the user holds open in an editor on this device, if any.</summary>
    public SimEditor? Editor { get; set; }

    /// <summary>Where the editor's file was when the device crashed (folder or state directory, and the path in it): reopened there at the restart.</summary>
    private (bool InState, string Path)? _editorAtCrash;

    public string Name { get; }

    public string Folder { get; }

    public string StateDirectory { get; }

    public LocalState State { get; private set; } = null!;

    public SyncEngine Engine { get; private set; } = null!;

    /// <summary>Set at the crash point: every later remote call of the abandoned engine fails, and nothing it does lasts.</summary>
    public bool Crashed { get; private set; }

    /// <summary>Passes started (the crash and fault decisions are keyed by it).</summary>
    public int Passes { get; set; }

    /// <summary>Set for a pass the seed chose to crash somewhere.</summary>
    public bool CrashArmed { get; set; }


    private string SnapshotRoot => Path.Combine(_root, Name + "-crash");

    /// <summary>The crash copy of the state directory, on its own file system (the restart moves it back by a rename).</summary>
    private string StateSnapshot => Path.Combine(_stateRoot, Name + "-crash-state");

    private SyncContext _ctx = null!;

    /// <summary>An engine whose pass the user confirmed (<c>--allow-mass-delete</c>), for after the guard stopped one.</summary>
    public SyncEngine ConfirmingEngine() => new(_ctx.With(_ctx.Options with { AllowMassDelete = true }));

    private void Open()
    {
        State = LocalState.Open(StateDirectory);
        // Every local db write (before and after it) and every local rename or delete of a pass is a step a crash may stop at.
        State.Writer.Step = what => _world.LocalStep(this, what);
        var ctx = _ctx = new SyncContext
        {
            Folder = Folder,
            State = State,
            Metadata = new SimRemote(_world, this, _server),
            Transfer = new SimRemote(_world, this, _server),
            Chunker = SimWorld.NewChunker(),
            Device = Name,
            Options = new SyncOptions { Parallelism = 1, StableAge = _world.StableAge, QuietPeriod = TimeSpan.FromMilliseconds(250), LockWait = TimeSpan.Zero, MassDeleteMinimum = int.MaxValue },
            Time = _world.Clock,
            Barrier = new SimBarrier(_world, this),
            Progress = new SyncProgress { Log = line => _world.LocalStep(this, line) },
        };
        Engine = new SyncEngine(ctx);
    }

    /// <summary>The crash: the folder and the state directory as they are on disk now become what the restart finds.</summary>
    public void Crash()
    {
        Crashed = true;
        foreach (var old in new[] { SnapshotRoot, StateSnapshot }.Where(Directory.Exists))
        {
            Directory.Delete(old, recursive: true);
        }

        _editorAtCrash = EditorFile() is not { } at ? null
            : at.StartsWith(Folder + "/", StringComparison.Ordinal) ? (false, Path.GetRelativePath(Folder, at))
            : at.StartsWith(StateDirectory + "/", StringComparison.Ordinal) ? (true, Path.GetRelativePath(StateDirectory, at))
            : null;
        CopyTree(Folder, Path.Combine(SnapshotRoot, "folder"));
        CopyTree(StateDirectory, StateSnapshot);
    }

    /// <summary>
    /// The full path the editor's open file has now: the name it was opened under, wherever that has moved; once that name
    /// is gone, a name the very file (its inode) has in the trash (on one file system a remote delete links the file into
    /// the trash and then unlinks its held name); null when it has no name left, or no editor is open.
    /// </summary>
    public string? EditorFile()
    {
        if (Editor is not { } editor)
        {
            return null;
        }

        if (editor.Where() is { } at)
        {
            return at;
        }

        var trash = Path.Combine(StateDirectory, "trash");
        if (StateElsewhere || editor.Inode is not { } inode || !Directory.Exists(trash))
        {
            return null;
        }

        return Directory.GetFiles(trash, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .FirstOrDefault(f => FileChangeTime.TryStat(f) is { IsRegularFile: true } stat && stat.Inode == inode);
    }

    /// <summary>
    /// The restart after a crash: a new engine over the folder and db as the crash left them on disk. The user's editor
    /// holds the file it held at the crash, as the copy has it (the copy's files are new ones: it is opened again there).
    /// Returns what became of the editor, for the log, or null when there was none.
    /// </summary>
    public string? Restart()
    {
        State.Dispose();
        Editor?.Dispose();
        Directory.Delete(Folder, recursive: true);
        Directory.Delete(StateDirectory, recursive: true);
        Directory.Move(Path.Combine(SnapshotRoot, "folder"), Folder);
        Directory.Move(StateSnapshot, StateDirectory);
        Directory.Delete(SnapshotRoot, recursive: true);
        Crashed = false;
        Open();
        if (Editor is null)
        {
            return null;
        }

        var at = _editorAtCrash is { } where ? Path.Combine(where.InState ? StateDirectory : Folder, where.Path) : null;
        Editor = at is not null && File.Exists(at) ? SimEditor.Open(at, Editor.Path) : null;
        return Editor is null ? "the editor's file had no name at the crash: the editor closes" : "the editor holds its file again, as the crash left it";
    }

    /// <summary>A copy made while the engine may still be writing (as a kill -9 finds it): files that vanish meanwhile are simply absent.</summary>
    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        string[] files, dirs;
        try
        {
            files = Directory.GetFiles(from);
            dirs = Directory.GetDirectories(from);
        }
        catch (IOException)
        {
            return;
        }

        foreach (var file in files)
        {
            if (file.EndsWith("-shm", StringComparison.Ordinal))
            {
                continue; // SQLite's shared memory index, rebuilt from the WAL on open (it is not on disk after a reboot either)
            }

            try
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
                File.SetLastWriteTimeUtc(Path.Combine(to, Path.GetFileName(file)), File.GetLastWriteTimeUtc(file));
            }
            catch (IOException)
            {
                // Gone (or its folder gone) while copying: the engine moved or deleted it at that moment.
            }
        }

        foreach (var dir in dirs)
        {
            CopyTree(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }

    public void Dispose()
    {
        Editor?.Dispose();
        State.Dispose();
    }
}
