using System.Text;
using System.Text.RegularExpressions;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// The deterministic simulation of the whole client (Dropbox's Trinity, in small): two or three devices run the real
/// <see cref="SyncEngine"/> against one contract-tested <see cref="FakeServer"/> under one simulated clock. One seeded
/// driver interleaves the users' operations, sync passes, network faults (a request lost, an answer lost, an answer held
/// while another device syncs, a user edit while a call is out) and crashes (a device abandoned at a step chosen by the
/// seed and restarted from its folder and db as they were on disk). Then it settles (no faults, passes until quiet) and
/// checks termination, convergence (every folder equals the server's tree) and that no content was lost (every content
/// a user wrote and did not overwrite or delete on its own device is in a folder, a conflicted copy, or a server version).
/// Users also write through a file they hold open in an editor across steps (see SimWorld.Editors.cs), some devices keep
/// their state directory (and trash) on another file system than their folder, and no hidden holding file may be left.
/// </summary>
internal sealed partial class SimWorld : IDisposable
{
    /// <summary>Files are cut small so that a few KiB make several chunks.</summary>
    public static IChunkSource NewChunker() => new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: true, parallelism: 1);

    private static readonly string[] Dirs = ["", "a", "b", "a/c", "B"];
    private static readonly string[] Names = ["x.txt", "X.txt", "y.dat", "z", "n.md"];

    private readonly Random _rng;
    private readonly string _root;
    private readonly string? _otherRoot;
    private readonly IChunkSource _chunker = NewChunker();
    private readonly List<string> _log = [];
    private readonly List<string> _failures = [];
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _occurrences = new(StringComparer.Ordinal);
    private readonly AsyncLocal<int> _depth = new();

    /// <summary>Content key → what wrote it; a content stays owed until its writer's own side overwrites or deletes it.</summary>
    private readonly Dictionary<string, string> _owed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _writtenBy = new(StringComparer.Ordinal);

    private readonly double _pFail;
    private readonly double _pLost;
    private readonly double _pLate;
    private readonly double _pEdit;
    private readonly double _pCrashPass;
    private int _ops;
    private int _interfering;
    private bool _faults;

    /// <param name="seed">The seed every choice of the run follows.</param>
    /// <param name="root">The folder the devices' folders and state live in.</param>
    /// <param name="stableAge">The devices' stable age (2 s, the CLI's default, unless given: a user's longer one).</param>
    /// <param name="otherRoot">A folder on another file system, for the state directories of the devices the seed picks (none: all beside their folders).</param>
    public SimWorld(int seed, string root, TimeSpan? stableAge = null, string? otherRoot = null)
    {
        Seed = seed;
        StableAge = stableAge ?? SyncOptions.DefaultStableAge;
        _root = root;
        _otherRoot = otherRoot;
        _rng = new Random(seed);
        Server = new FakeServer();
        var count = _rng.NextDouble() < 0.3 ? 3 : 2;
        var elsewhere = new List<string>();
        for (var i = 0; i < count; i++)
        {
            // Drawn whether or not there is another file system, so the seed's other choices are the same everywhere.
            var stateElsewhere = _rng.NextDouble() < StateElsewhereShare && otherRoot is not null;
            Devices.Add(new SimDevice(this, Server, root, stateElsewhere ? otherRoot! : root, "dev" + i));
            if (stateElsewhere)
            {
                elsewhere.Add("dev" + i);
            }
        }

        double[] levels = [0, 0.02, 0.05, 0.1];
        _pFail = levels[_rng.Next(levels.Length)];
        _pLost = levels[_rng.Next(levels.Length)];
        _pLate = levels[_rng.Next(levels.Length)];
        _pEdit = levels[_rng.Next(levels.Length)];
        _pCrashPass = _rng.Next(3) * 0.15;
        Note($"seed {seed}: {count} devices, request lost {_pFail}, answer lost {_pLost}, answer late {_pLate}, edit mid-call {_pEdit}, crash per pass {_pCrashPass}"
            + (elsewhere.Count > 0 ? $", state on another file system: {string.Join(", ", elsewhere)}" : string.Empty));
    }

    public int Seed { get; }

    /// <summary>How long a file's mtime must be left alone before the devices take it as settled.</summary>
    public TimeSpan StableAge { get; }

    public SimClock Clock { get; } = new();

    public FakeServer Server { get; }

    public List<SimDevice> Devices { get; } = [];

    /// <summary>The operation log (what the driver did and what each fault was), in order.</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_lock)
            {
                return [.. _log];
            }
        }
    }

    public IReadOnlyList<string> Failures => _failures;

    /// <summary>Counts of what happened (for the suite's coverage line).</summary>
    public Dictionary<string, int> Counts { get; } = new(StringComparer.Ordinal);

    private void Count(string what)
    {
        lock (_lock)
        {
            Counts[what] = Counts.GetValueOrDefault(what) + 1;
        }
    }

    private void Note(string line)
    {
        lock (_lock)
        {
            _log.Add(line);
        }
    }

    /// <summary>Records a failure of this seed (the driver's own exceptions count too: they print the seed like any other).</summary>
    public void Fail(string what)
    {
        lock (_lock)
        {
            _failures.Add(what);
            _log.Add("FAILURE: " + what);
        }
    }

    /// <summary>Runs the seed: set-up, agitation, settle, invariants. Failures are in <see cref="Failures"/>.</summary>
    public async Task RunAsync(int steps)
    {
        // Set-up: a shared starting tree, synced everywhere without faults (edits then meet on a common base).
        for (var i = _rng.Next(2, 7); i > 0; i--)
        {
            UserOp(Devices[0]);
        }

        if (!await SettleAsync("set-up"))
        {
            return;
        }

        _faults = true;
        await EditorAgainstDeleteAsync();
        for (var i = 0; i < steps && _failures.Count == 0; i++)
        {
            var roll = _rng.NextDouble();
            var device = Devices[_rng.Next(Devices.Count)];
            if (roll < 0.5)
            {
                UserOp(device);
            }
            else if (roll < 0.95)
            {
                await PassAsync(device, nested: false);
            }
            else
            {
                var jump = TimeSpan.FromSeconds(_rng.Next(1, 600));
                Clock.Advance(jump);
                Note($"time jumps {jump.TotalSeconds:0} s");
            }
        }

        _faults = false;
        CloseEditors();
        if (_failures.Count == 0 && await SettleAsync("settle"))
        {
            await CheckAsync();
        }
    }

    /// <summary>
    /// Passes round the devices, no faults, until a whole round changes nothing and leaves nothing waiting (bounded:
    /// termination). A pass that left work for later (a stability wait, a case-clash rename waiting, a racy read to prove:
    /// what makes the daemon come back, see <see cref="HasWaits"/>) keeps the world from being quiet however still its
    /// trees are: convergence is judged only once nothing waits. Before each pass the clock moves past every wait the last
    /// passes asked for.
    /// </summary>
    private async Task<bool> SettleAsync(string what)
    {
        const int MaxRounds = 8;
        var before = await DigestAsync();
        var longestWait = TimeSpan.Zero;
        for (var round = 1; round <= MaxRounds; round++)
        {
            var errors = new List<string>();
            var waiting = new List<string>();
            foreach (var device in Devices)
            {
                // Past the stable age and a case-clash folder's longer settle age: every file and folder written so far is
                // settled (a case-clash folder is renamed whole only once nothing in it changed for Stability.MinFolderSettleAge);
                // and past the longest wait a pass reported (an unreadable case-clash folder's, an over-bound one's backoff).
                Clock.Advance((longestWait > Stability.MinFolderSettleAge ? longestWait : Stability.MinFolderSettleAge) + TimeSpan.FromSeconds(1));
                var summary = await PassAsync(device, nested: false);
                if (summary is { Errors: > 0 })
                {
                    errors.Add($"{device.Name}: {string.Join("; ", summary.ErrorMessages)}");
                }

                if (summary is not null && HasWaits(summary))
                {
                    waiting.Add($"{device.Name}: {summary.Pending} pending, {summary.Racy} racy, recheck after {summary.RecheckAfter?.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) ?? "-"} s");
                    if (summary.RecheckAfter is { } due && due > longestWait)
                    {
                        longestWait = due;
                    }
                }
            }

            if (_failures.Count > 0)
            {
                return false;
            }

            var after = await DigestAsync();
            if (after == before && waiting.Count == 0)
            {
                if (errors.Count > 0)
                {
                    Fail($"{what}: the quiet round still reported errors: {string.Join(" | ", errors)}");
                    return false;
                }

                Note($"{what}: quiet after {round} round(s)");
                return true;
            }

            if (waiting.Count > 0)
            {
                Note($"{what}: round {round} left waits: {string.Join(" | ", waiting)}");
                Count("settle rounds with waits");
            }

            before = after;
        }

        Fail($"{what}: not quiet after {MaxRounds} rounds of passes without faults (termination)");
        return false;
    }

    /// <summary>
    /// True when a pass left work for a later one (the daemon's re-check): a file or case-clash rename waiting to settle
    /// (<see cref="SyncSummary.Pending"/>), or content read while too young to prove (<see cref="SyncSummary.Racy"/>).
    /// </summary>
    private static bool HasWaits(SyncSummary summary) => summary.Pending > 0 || summary.Racy > 0;

    /// <summary>One pass of a device, as the daemon runs it: a failed pass is logged and the next one tries again.</summary>
    private async Task<SyncSummary?> PassAsync(SimDevice device, bool nested)
    {
        device.Passes++;
        device.CrashArmed = !nested && _faults && _rng.NextDouble() < _pCrashPass;
        Note($"{Indent}{device.Name} pass {device.Passes}{(device.CrashArmed ? " (may crash)" : "")}");
        Count("passes");
        SyncSummary? summary = null;
        try
        {
            try
            {
                summary = await device.Engine.RunPassAsync(CancellationToken.None);
            }
            catch (DropboxException e) when (!device.Crashed && e.Details.ContainsKey(MassDeleteGuard.DetailKey))
            {
                // The guard asks the user (the folder emptied, or many deletions): this user confirms, as with --allow-mass-delete.
                Note($"{Indent}  {device.Name}: {e.Message[..Math.Min(60, e.Message.Length)]}...; the user confirms");
                Count("mass deletes confirmed");
                summary = await device.ConfirmingEngine().RunPassAsync(CancellationToken.None);
            }

            if (Trace)
            {
                foreach (var n in summary.Notes)
                {
                    Note($"{Indent}    . {device.Name} note: {n}");
                }
            }

            Note($"{Indent}  {device.Name}: up {summary.FilesUploaded}, down {summary.FilesDownloaded}, deleted {summary.FilesDeleted}, moved {summary.FilesMoved}, conflicts {summary.Conflicts}, errors {summary.Errors}, pending {summary.Pending}");
        }
        catch (Exception) when (device.Crashed)
        {
        }
        catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
        {
            Note($"{Indent}  {device.Name}: pass failed: {e.Message}");
            if (!_faults)
            {
                Fail($"{device.Name}'s pass failed without faults: {e.Message}");
            }
        }
        catch (Exception e)
        {
            Fail($"{device.Name}'s pass threw {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }

        device.CrashArmed = false;
        if (device.Crashed)
        {
            Note($"{Indent}  {device.Name} restarts from its folder and db as the crash left them");
            Count("crashes");
            if (device.Restart() is { } editor)
            {
                Note($"{Indent}  {device.Name}: {editor}");
            }
        }

        return summary;
    }

    private string Indent => _depth.Value > 0 ? "    | " : string.Empty;

    /// <summary>
    /// SIM_TRACE set: the log also holds every local step of every pass (db writes, local renames, progress lines) and each
    /// pass's notes, for finding out why a seed fails. Off by default: the log is the seed's, and only steps are added.
    /// </summary>
    private static bool Trace { get; } = Environment.GetEnvironmentVariable("SIM_TRACE") is not null;

    /// <summary>A remote call leaves the device: it may crash here, fail, or be delayed behind another device's pass.</summary>
    public async Task<SimFault> BeforeCallAsync(SimDevice device, string method, string key)
    {
        if (device.Crashed)
        {
            throw new SimulatedCrashException($"{device.Name} has crashed");
        }

        if (!_faults)
        {
            return SimFault.None;
        }

        if (CrashHere(device, method + " " + key))
        {
            throw new SimulatedCrashException($"{device.Name} crashed before {method}");
        }

        if (Roll(device, method, key) < _pFail)
        {
            NoteUnlessConcurrent(method, $"{Indent}  {device.Name} {method} {key}: request lost");
            Count("requests lost");
            throw new DropboxException(ErrorKind.Unavailable, $"simulated: {method} did not reach the server");
        }

        var roll = Roll(device, method + "/after", key);
        if (roll < _pLost)
        {
            return SimFault.AnswerLost;
        }

        roll -= _pLost;
        if (roll < _pLate && Interferable(method))
        {
            if (Roll(device, method + "/which", key) < 0.5)
            {
                return SimFault.AnswerLate;
            }

            await DelayAsync(device, method, key);
            return SimFault.None;
        }

        roll -= _pLate;
        return roll < _pEdit && Interferable(method) ? SimFault.EditMeanwhile : SimFault.None;
    }

    /// <summary>The server acted (or is about to): the answer may be lost, held, or the user may act meanwhile.</summary>
    public async Task AfterCallAsync(SimDevice device, string method, string key, SimFault fault)
    {
        switch (fault)
        {
            case SimFault.AnswerLost:
                NoteUnlessConcurrent(method, $"{Indent}  {device.Name} {method} {key}: answer lost");
                Count("answers lost");
                throw new DropboxException(ErrorKind.Unavailable, $"simulated: {method}'s answer was lost (deadline exceeded)");
            case SimFault.AnswerLate:
                Note($"{Indent}  {device.Name} {method} {key}: answer held while another device syncs");
                Count("answers late");
                await InterfereAsync(device);
                break;
            case SimFault.EditMeanwhile:
                EditMeanwhile(device, method + " " + key);
                break;
        }

        if (device.Crashed)
        {
            throw new SimulatedCrashException($"{device.Name} has crashed");
        }

        if (_faults && CrashHere(device, "answer of " + method + " " + key))
        {
            throw new SimulatedCrashException($"{device.Name} crashed after {method} acted, before its answer was used");
        }
    }

    /// <summary>A request held: another device's pass runs before the server sees it.</summary>
    private Task DelayAsync(SimDevice device, string method, string key)
    {
        Note($"{Indent}  {device.Name} {method} {key}: request held while another device syncs");
        Count("requests late");
        return InterfereAsync(device);
    }

    /// <summary>
    /// A local step (a progress line, a durability barrier, right before or after a local db write, around a local rename
    /// or delete): a crash may stop the device here, or the user may act.
    /// </summary>
    public void LocalStep(SimDevice device, string what)
    {
        // A step's roll and log line must not depend on the run's random folder or a random temp name.
        what = TempNames.Replace(what.Replace(_root, "~", StringComparison.Ordinal), ".dropbox.tmp-*");
        what = _otherRoot is null ? what : what.Replace(_otherRoot, "~", StringComparison.Ordinal);
        Follow(device);
        if (Trace)
        {
            Note($"{Indent}    . {device.Name} {what}");
        }

        CountStep(device, what);
        if (!_faults || device.Crashed || CrashHere(device, what, planned: PlannedCrash(device, what)))
        {
            return;
        }

        if (device.Editor is { } editor && EditorWriteChance(what, editor) is > 0 and var chance && Roll(device, "editor at", what) < chance)
        {
            // The user's editor writes to its file at a step of the engine's about that very file (a delete taking it
            // aside, a download exchanging it...): where a write through a held handle lands matters most.
            EditMeanwhile(device, "at '" + what + "'", what, editorOnly: true);
        }
        else if (Roll(device, "edit at", what) < _pEdit)
        {
            // The user writes while the engine is between two steps (a download's bytes durable, not yet renamed...).
            EditMeanwhile(device, "at '" + what + "'", what);
        }
    }

    private void EditMeanwhile(SimDevice device, string where, string? step = null, bool editorOnly = false)
    {
        if (_depth.Value == 0 && Interlocked.CompareExchange(ref _interfering, 1, 0) == 0)
        {
            try
            {
                Note($"{Indent}  {device.Name} {where}: the user {(editorOnly ? "writes through the open file" : "acts")} meanwhile");
                Count(editorOnly ? "editor writes at a step of its file" : "edits mid-pass");
                if (editorOnly)
                {
                    var op = ++_ops;
                    Clock.Advance(TimeSpan.FromMilliseconds(_rng.Next(10, 3000)));
                    var line = EditorWrite(device, device.Editor!, op, step);
                    Count("user ops");
                    Note($"{Indent}#{op} {device.Name}: {line}");
                }
                else
                {
                    UserOp(device, step);
                }
            }
            catch (Exception e) when (e is not SimulatedCrashException)
            {
                // The driver's own error, never the engine's: reported with the seed, not handed to the engine as if its step failed.
                Fail($"{device.Name}: the simulated user's operation {where} threw {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                Volatile.Write(ref _interfering, 0);
            }
        }
    }

    private static readonly Regex TempNames = new(@"\.dropbox\.tmp-(displaced-)?[0-9a-f]{32}", RegexOptions.CultureInvariant);

    /// <summary>
    /// Logs a fault of a call, except of one the batch downloader makes concurrently (see <see cref="Interferable"/>):
    /// whether such a line comes before or after a crash at a sibling call, or is reached at all once it crashed, is
    /// thread timing, and the log must be the seed's alone (the fault itself is still decided by the seed and counted).
    /// </summary>
    private void NoteUnlessConcurrent(string method, string line)
    {
        if (Interferable(method))
        {
            Note(line);
        }
    }

    private static bool Interferable(string method) =>
        method is not ("GetChunks" or "GetDownloadPlan" or "GetDownloadPlans"); // the batch downloader calls these concurrently

    /// <summary>True (and the device crashed: its disk copied as it is) at the step the seed chose for an armed pass.</summary>
    private bool CrashHere(SimDevice device, string step, bool planned = false)
    {
        if (!device.CrashArmed || _depth.Value > 0)
        {
            return false;
        }

        if (!planned && Roll(device, "crash", step) >= 0.12)
        {
            return false;
        }

        lock (_lock)
        {
            if (!device.CrashArmed)
            {
                return false;
            }

            device.CrashArmed = false;
        }

        Note($"  {device.Name} CRASHES at {step}"); // not the step's number: concurrent calls of a pass count in any order
        Count("crashes " + CrashKind(step));
        device.Crash();
        return true;
    }

    /// <summary>What kind of step a crash stopped at (for the suite's coverage line).</summary>
    private static string CrashKind(string step) =>
        step.StartsWith("before db ", StringComparison.Ordinal) ? "before a db write"
        : step.StartsWith("after db ", StringComparison.Ordinal) ? "after a db write"
        : step.StartsWith("answer of ", StringComparison.Ordinal) ? "at an answer"
        : step.StartsWith("flush ", StringComparison.Ordinal) ? "at a flush"
        : step.StartsWith("before ", StringComparison.Ordinal) || step.StartsWith("after ", StringComparison.Ordinal)
            || step.StartsWith("download of ", StringComparison.Ordinal) || step.StartsWith("displaced ", StringComparison.Ordinal) ? "around a local rename or delete"
        : step.Contains(' ', StringComparison.Ordinal) && char.IsUpper(step[0]) ? "before a call"
        : "at a progress line";

    /// <summary>Another device acts and syncs (one level deep) while this device's call is out.</summary>
    private async Task InterfereAsync(SimDevice device)
    {
        if (_depth.Value > 0 || Interlocked.CompareExchange(ref _interfering, 1, 0) != 0)
        {
            return;
        }

        try
        {
            _depth.Value++;
            var others = Devices.Where(d => d != device).ToList();
            var other = others[_rng.Next(others.Count)];
            for (var i = _rng.Next(0, 3); i > 0; i--)
            {
                UserOp(other);
            }

            await PassAsync(other, nested: true);
        }
        finally
        {
            _depth.Value--;
            Volatile.Write(ref _interfering, 0);
        }
    }

    /// <summary>A number in [0, 1) fixed by the seed, the device's pass, the call and how often that call came before in the pass (not by thread timing).</summary>
    private double Roll(SimDevice device, string what, string key)
    {
        var id = $"{device.Name}|{device.Passes}|{what}|{key}";
        int n;
        lock (_lock)
        {
            n = _occurrences.GetValueOrDefault(id);
            _occurrences[id] = n + 1;
        }

        var h = 14695981039346656037UL ^ (ulong)Seed;
        foreach (var c in id)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        h ^= (ulong)n * 0x9E3779B97F4A7C15UL;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return (h >> 11) * (1.0 / (1UL << 53));
    }

    // ---- the users ----

    /// <summary>One user operation on a device's folder, chosen by the seed (<paramref name="step"/>: the engine's step it comes at, if any).</summary>
    private void UserOp(SimDevice device, string? step = null)
    {
        var op = ++_ops;
        Clock.Advance(TimeSpan.FromMilliseconds(_rng.Next(10, 3000)));
        var files = Entries(device.Folder, directories: false);
        var dirs = Entries(device.Folder, directories: true);
        var editing = _rng.Next(100);
        var kind = _rng.Next(100);
        string? line = null;
        if (device.Editor is { } editor && editing < 15)
        {
            line = editing < 12 ? EditorWrite(device, editor, op, step) : CloseEditor(device);
        }
        else if (device.Editor is null && editing < 10 && files.Count > 0 && SimEditor.Supported)
        {
            line = OpenEditor(device, files[_rng.Next(files.Count)], op, step);
        }
        else if (editing >= 80 && OpenElsewhere(device, files) is { } open)
        {
            // A file another device's user holds open: its delete reaches that device as a remote delete of a file
            // written through a handle (taken aside, looked at, moved into the trash).
            Release(device, open);
            File.Delete(Full(device, open));
            line = $"delete {open} (open in an editor elsewhere)";
        }
        else if (kind < 25 || files.Count == 0)
        {
            var path = Join(Dirs[_rng.Next(Dirs.Length)], Names[_rng.Next(Names.Length)]);
            if (CanCreate(device, path))
            {
                Release(device, path);
                Write(device, path, NewContent(device, op), op);
                line = $"create {path}";
            }
        }
        else if (kind < 40)
        {
            var path = files[_rng.Next(files.Count)];
            Release(device, path);
            Write(device, path, NewContent(device, op), op);
            line = $"edit {path}";
        }
        else if (kind < 50)
        {
            var path = files[_rng.Next(files.Count)];
            var old = File.ReadAllBytes(Full(device, path));
            Release(device, path);
            Write(device, path, [.. old, .. NewContent(device, op, small: true)], op);
            line = $"append to {path}";
        }
        else if (kind < 56)
        {
            var path = files[_rng.Next(files.Count)];
            var old = File.ReadAllBytes(Full(device, path));
            var keep = _rng.Next(3) == 0 || old.Length <= 64 ? 0 : _rng.Next(64, old.Length);
            Release(device, path);
            Write(device, path, old[..keep], op);
            line = $"truncate {path} to {keep}";
        }
        else if (kind < 66)
        {
            var path = files[_rng.Next(files.Count)];
            var to = Join(Parent(path), Names[_rng.Next(Names.Length)]);
            line = Move(device, path, to, directory: false, "rename");
        }
        else if (kind < 73)
        {
            var path = _rng.Next(2) == 0 || dirs.Count == 0 ? files[_rng.Next(files.Count)] : dirs[_rng.Next(dirs.Count)];
            var name = Name(path);
            var flipped = string.Concat(name.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            line = Move(device, path, Join(Parent(path), flipped), Directory.Exists(Full(device, path)), "case-only rename");
        }
        else if (kind < 80)
        {
            var path = files[_rng.Next(files.Count)];
            line = Move(device, path, Join(Dirs[_rng.Next(Dirs.Length)], Name(path)), directory: false, "move");
        }
        else if (kind < 88)
        {
            var path = files[_rng.Next(files.Count)];
            Release(device, path);
            File.Delete(Full(device, path));
            line = $"delete {path}";
        }
        else if (kind < 92)
        {
            var path = Dirs[_rng.Next(1, Dirs.Length)] + "/" + "d" + _rng.Next(3);
            if (CanCreate(device, path))
            {
                Directory.CreateDirectory(Full(device, path));
                line = $"create folder {path}";
            }
        }
        else if (kind < 96 && dirs.Count > 0)
        {
            var path = dirs[_rng.Next(dirs.Count)];
            var to = Dirs[_rng.Next(1, Dirs.Length)] + "/" + "m" + _rng.Next(3);
            line = Move(device, path, to, directory: true, "move folder");
        }
        else if (dirs.Count > 0)
        {
            var path = dirs[_rng.Next(dirs.Count)];
            foreach (var file in Entries(Full(device, path), directories: false))
            {
                // Only the user's files: the engine's temp files (a download being written, locked) are not the user's content.
                Release(device, Join(path, file));
            }

            foreach (var held in HeldFiles(device, path))
            {
                // A file a remote delete took aside under a hidden holding name (owed like any write) goes with its
                // folder: the user's own delete, as it would have been at the file's name.
                Release(device, held);
            }

            Directory.Delete(Full(device, path), recursive: true);
            line = $"delete folder {path}";
        }

        Count("user ops");
        Note($"{Indent}#{op} {device.Name}: {line ?? "(nothing: the chosen path was taken)"}");
    }

    private string? Move(SimDevice device, string from, string to, bool directory, string what)
    {
        var fromFull = Full(device, from);
        var toFull = Full(device, to);
        if (from == to || File.Exists(toFull) || Directory.Exists(toFull) || (directory && (to + "/").StartsWith(from + "/", StringComparison.Ordinal))
            || !CanCreate(device, to, allowCaseVariant: string.Equals(from, to, StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(toFull)!);
        if (directory)
        {
            Directory.Move(fromFull, toFull);
        }
        else
        {
            File.Move(fromFull, toFull);
        }

        return $"{what} {from} -> {to}";
    }

    /// <summary>True when nothing at the path or above it is in the way (a file where a folder is wanted, or the reverse).</summary>
    private static bool CanCreate(SimDevice device, string path, bool allowCaseVariant = true)
    {
        if (Directory.Exists(Full(device, path)))
        {
            return false;
        }

        for (var parent = Parent(path); parent.Length > 0; parent = Parent(parent))
        {
            if (File.Exists(Full(device, parent)))
            {
                return false;
            }
        }

        return allowCaseVariant || !File.Exists(Full(device, path));
    }

    private byte[] NewContent(SimDevice device, int op, bool small = false)
    {
        var header = Encoding.UTF8.GetBytes($"#{Seed}/{op}/{device.Name}\n");
        var roll = _rng.Next(100);
        // Mostly small files (the batched small-file path); now and then one over 1 MiB (the streamed, windowed upload).
        var size = small ? _rng.Next(1, 3000) : roll < 70 ? _rng.Next(0, 2000) : roll < 95 ? _rng.Next(2000, 40_000) : roll < 98 ? _rng.Next(40_000, 150_000) : _rng.Next(1_050_000, 1_500_000);
        var body = new byte[size];
        _rng.NextBytes(body);
        return [.. header, .. body];
    }

    private void Write(SimDevice device, string path, byte[] content, int op)
    {
        var full = Full(device, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
        File.SetLastWriteTimeUtc(full, Clock.GetUtcNow().UtcDateTime);
        if (content.Length > 0)
        {
            var key = ContentKey(content);
            lock (_lock)
            {
                _owed[key] = $"#{op} {device.Name} {path} ({content.Length} B)";
                _writtenBy[key] = device.Name;
                _mayBeInTrash.Remove(key);
            }
        }
    }

    /// <summary>The user overwrites or deletes the file at <paramref name="path"/>: its content is no longer owed if this side wrote it.</summary>
    private void Release(SimDevice device, string path)
    {
        var full = Full(device, path);
        if (!File.Exists(full))
        {
            return;
        }

        var key = ContentKey(File.ReadAllBytes(full));
        lock (_lock)
        {
            if (_writtenBy.GetValueOrDefault(key) == device.Name)
            {
                _owed.Remove(key);
            }
        }
    }

    private static string Full(SimDevice device, string path) => SyncPaths.ToFull(device.Folder, path);

    /// <summary>The hidden holding files (<see cref="TempName.IsDisplaced"/>) under the folder <paramref name="path"/>, relative to the device's folder.</summary>
    private static IEnumerable<string> HeldFiles(SimDevice device, string path) =>
        Directory.GetFiles(Full(device, path), IgnoreMatcher.TempPrefix + "*", SearchOption.AllDirectories)
            .Where(f => TempName.IsDisplaced(Path.GetFileName(f), out _))
            .Select(f => Path.GetRelativePath(device.Folder, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);

    private static string Join(string dir, string name) => dir.Length == 0 ? name : dir + "/" + name;

    private static string Parent(string path) => path.LastIndexOf('/') is var i and > 0 ? path[..i] : string.Empty;

    private static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>The folder's files or folders (relative, '/'-separated, ordinal order), without the client's own and ignored ones.</summary>
    private static List<string> Entries(string folder, bool directories)
    {
        var found = directories
            ? Directory.GetDirectories(folder, "*", SearchOption.AllDirectories)
            : Directory.GetFiles(folder, "*", SearchOption.AllDirectories);
        return found.Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/'))
            .Where(p => p != FolderIdentity.MarkerName && !IgnoreMatcher.BuiltIn.IsIgnored(p, directories))
            .Order(StringComparer.Ordinal).ToList();
    }

    private string ContentKey(byte[] content)
    {
        var chunks = _chunker.CutWholeAsync(content, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var ids = chunks.Select(c => c.Ref.Id).ToList();
        foreach (var c in chunks)
        {
            c.Dispose();
        }

        return Convert.ToHexStringLower(FileVersion.ComputeContentHash(ids));
    }

    // ---- the invariants ----

    /// <summary>The server's sequence and every folder's tree: unchanged over a round means quiet.</summary>
    private async Task<string> DigestAsync()
    {
        var sb = new StringBuilder();
        sb.Append((await Server.GetAccountAsync(CancellationToken.None)).Cursor).Append('\n');
        foreach (var device in Devices)
        {
            foreach (var (path, what) in LocalTree(device))
            {
                sb.Append(device.Name).Append(' ').Append(path).Append(' ').Append(what).Append('\n');
            }
        }

        return sb.ToString();
    }

    private SortedDictionary<string, string> LocalTree(SimDevice device)
    {
        var tree = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in Entries(device.Folder, directories: true))
        {
            tree[dir] = "folder";
        }

        foreach (var file in Entries(device.Folder, directories: false))
        {
            tree[file] = ContentKey(File.ReadAllBytes(Full(device, file)))[..16];
        }

        return tree;
    }

    private async Task<SortedDictionary<string, string>> ServerTreeAsync()
    {
        var tree = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var listing = await Server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None);
        foreach (var entry in listing.Entries)
        {
            tree[entry.Path] = entry.Kind == EntryKind.Folder ? "folder" : Convert.ToHexStringLower(entry.ContentHash.Span)[..16];
            for (var parent = Parent(entry.Path); parent.Length > 0; parent = Parent(parent))
            {
                tree[parent] = "folder";
            }
        }

        return tree;
    }

    private async Task CheckAsync()
    {
        // Convergence: every folder holds exactly the server's tree.
        var server = await ServerTreeAsync();
        foreach (var device in Devices)
        {
            var local = LocalTree(device);
            var diffs = server.Keys.Union(local.Keys).Order(StringComparer.Ordinal)
                .Where(p => server.GetValueOrDefault(p) != local.GetValueOrDefault(p))
                .Select(p => $"{p}: server {server.GetValueOrDefault(p) ?? "-"}, {device.Name} {local.GetValueOrDefault(p) ?? "-"}")
                .ToList();
            if (diffs.Count > 0)
            {
                Fail($"convergence: {device.Name}'s folder differs from the server: {string.Join("; ", diffs)}");
            }
        }

        // No lost content: in a folder (a conflicted copy counts), or a version the server can restore.
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var device in Devices)
        {
            foreach (var file in Entries(device.Folder, directories: false))
            {
                present.Add(ContentKey(File.ReadAllBytes(Full(device, file))));
            }
        }

        var all = await Server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty, IncludeDeleted = true }, CancellationToken.None);
        foreach (var entry in all.Entries)
        {
            foreach (var version in Server.History(entry.Path).Where(v => !v.Deleted && v.Kind == EntryKind.File))
            {
                present.Add(Convert.ToHexStringLower(version.ContentHash.Span));
            }
        }

        Dictionary<string, string>? trashed = null;
        foreach (var (key, what) in _owed.OrderBy(o => o.Value, StringComparer.Ordinal))
        {
            if (present.Contains(key))
            {
                continue;
            }

            trashed ??= TrashContents();
            if (_mayBeInTrash.Contains(key) && trashed.ContainsKey(key))
            {
                continue;
            }

            Fail(trashed.TryGetValue(key, out var trash)
                ? $"lost content: {what} is in no folder and no server version, only in {trash} (the trash keeps only a write through an open file after the delete's last look at it)"
                : $"lost content: {what} is in no folder and no server version");
        }

        CheckLeftovers();

        Note($"checked: {server.Count} server entries, {_owed.Count} owed contents, {Devices.Count} folders");
    }

    public void Dispose()
    {
        foreach (var device in Devices)
        {
            device.Dispose();
        }
    }

    /// <summary>The report of a failed seed: what failed, how to replay it, and the operation log.</summary>
    public string Report() =>
        $"simulation seed {Seed} failed:\n  {string.Join("\n  ", _failures)}\nreplay: SIM_SEED={Seed} dotnet test tests/Dropbox.SyncClient.Tests --filter FullyQualifiedName~SimulationTests\noperation log:\n{string.Join("\n", Log)}";
}
