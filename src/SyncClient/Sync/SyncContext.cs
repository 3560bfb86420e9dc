using Dropbox.Shared.Chunks;
using Dropbox.Shared.Pipeline;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>Everything a pass works with: the folder, the db, the remote and the knobs.</summary>
internal sealed class SyncContext
{
    public required string Folder { get; init; }

    public required LocalState State { get; init; }

    /// <summary>The one writer of the local db (<see cref="LocalState.Writer"/>).</summary>
    public LocalDbWriter Db => State.Writer;

    /// <summary>
    /// The test seam of <see cref="LocalDbWriter.Step"/> (null outside tests), named around the local renames and deletes
    /// a pass makes, so a simulated crash can fall between one and the db write that records it. Call it as
    /// <c>Step?.Invoke(...)</c>: the name is then built only in a test.
    /// </summary>
    public Action<string>? Step => Db.Step;

    public required IMetadataRemote Metadata { get; init; }

    public required IChunkTransfer Transfer { get; init; }

    public required IChunkSource Chunker { get; init; }

    public required string Device { get; init; }

    public SyncOptions Options { get; init; } = new();

    public SyncProgress Progress { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How downloads are made durable before they are renamed into place (a seam for tests).</summary>
    public IDurabilityBarrier Barrier { get; init; } = DurabilityBarrier.Default;

    /// <summary>The daemon's watcher evidence (null for a one-shot pass): files it saw settle by the quiet period.</summary>
    public WatchedChanges? Watched { get; init; }

    /// <summary>
    /// Whether the folder can hold the owner-executable bit; by default <see cref="ExecutableBitProbe.Holds"/> on the
    /// folder (a seam for tests: vfat cannot be mounted in a test).
    /// </summary>
    public Func<string, bool?> ExecutableBitProbe { get; init; } = Local.ExecutableBitProbe.Holds;

    /// <summary>The backoff of clashing folders too large to look at whole, shared by every copy of this context (every engine of a daemon).</summary>
    public UncheckedFolderBackoff UncheckedFolders { get; private init; } = new();

    /// <summary>
    /// The backoff of files whose content could not be read (see <see cref="UnreadableFile"/>), by path, shared as
    /// <see cref="UncheckedFolders"/> is.
    /// </summary>
    public UncheckedFolderBackoff UnreadableFiles { get; private init; } = new();

    private ProbeAnswer? _probe;

    /// <summary>
    /// Whether the folder folds case (two names that differ only in case are one file); by default
    /// <see cref="CaseProbe.Folds"/> on the folder (a seam for tests: Linux test folders are case-sensitive).
    /// </summary>
    public Func<string, bool?> CaseProbe { get; init; } = Local.CaseProbe.Folds;

    private CaseAnswer? _foldsCase;

    /// <summary>
    /// <see cref="CaseProbe"/>'s answer for the folder, shared by every copy of this context: null where the probe
    /// cannot tell (a full disk, an unwritable root), asked again at the next call (once a pass). Only a definite answer
    /// is kept. No platform default stands in for it: macOS and Windows volumes can be case-sensitive (APFS, NTFS
    /// per-directory), Linux ones can fold (vfat, exFAT, SMB, ext4 casefold), and either guess costs a user's file
    /// (renamed on the server beside a name it never clashed with, or downloaded onto the other spelling).
    /// </summary>
    public bool? FoldsCase
    {
        get
        {
            var answer = ShareCase();
            lock (answer)
            {
                return answer.Folds ??= CaseProbe(Folder);
            }
        }
    }

    private CaseAnswer ShareCase()
    {
        Interlocked.CompareExchange(ref _foldsCase, new CaseAnswer(), null);
        return _foldsCase!;
    }

    /// <summary>The case probe's definite answer so far (a lock too).</summary>
    private sealed class CaseAnswer
    {
        public bool? Folds { get; set; }
    }

    /// <summary>
    /// <see cref="ExecutableBitProbe"/>'s answer for the folder (asked at the first pass that finds the folder, see
    /// <see cref="ProbeExecutableBit"/>), shared by every copy of this context. Where false, or where the probe could
    /// not tell, the bit is unknown here: never compared, sent or applied.
    /// </summary>
    public bool HoldsExecutableBit
    {
        get
        {
            var probe = ShareProbe();
            lock (probe)
            {
                return probe.Asked ? probe.Holds ?? false : ProbeExecutableBit() ?? false;
            }
        }
    }

    /// <summary>
    /// True unless the probe said the folder cannot hold the bit: where it could not tell this pass, a download still
    /// applies the version's bit and records the bit read back, so the record matches the file whatever the next
    /// probe says (a recorded bit never applied would be sent as a chmod once the probe says "holds").
    /// </summary>
    public bool MayHoldExecutableBit
    {
        get
        {
            var probe = ShareProbe();
            lock (probe)
            {
                return (probe.Asked ? probe.Holds : ProbeExecutableBit()) != false;
            }
        }
    }

    /// <summary>
    /// Asks the probe unless it already gave a definite answer, and returns that answer: null when it could not tell
    /// (the folder could not be written, say), which holds for this pass only and is asked again at the next.
    /// </summary>
    public bool? ProbeExecutableBit()
    {
        var probe = ShareProbe();
        lock (probe)
        {
            if (probe.Holds is null)
            {
                probe.Holds = ExecutableBitProbe(Folder);
                probe.Asked = true;
            }

            return probe.Holds;
        }
    }

    /// <summary>The stability rule of this context's passes.</summary>
    public Stability Stability() => new(Time, Options.StableAge, Watched, Options.QuietPeriod);

    /// <summary>The same context with other options.</summary>
    public SyncContext With(SyncOptions options) => Copy(options, Watched);

    /// <summary>The same context with the daemon's watcher evidence.</summary>
    public SyncContext With(WatchedChanges watched) => Copy(Options, watched);

    private SyncContext Copy(SyncOptions options, WatchedChanges? watched) => new()
    {
        Folder = Folder,
        State = State,
        Metadata = Metadata,
        Transfer = Transfer,
        Chunker = Chunker,
        Device = Device,
        Options = options,
        Progress = Progress,
        Time = Time,
        Barrier = Barrier,
        Watched = watched,
        ExecutableBitProbe = ExecutableBitProbe,
        UncheckedFolders = UncheckedFolders,
        UnreadableFiles = UnreadableFiles,
        _probe = ShareProbe(),
        CaseProbe = CaseProbe,
        _foldsCase = ShareCase(),
    };

    /// <summary>The probe's answer, created here if not yet, so this context and its copies ask it between them.</summary>
    private ProbeAnswer ShareProbe()
    {
        Interlocked.CompareExchange(ref _probe, new ProbeAnswer(), null);
        return _probe!;
    }

    /// <summary>The probe's answer so far (a lock too): null until it gave a definite one.</summary>
    private sealed class ProbeAnswer
    {
        public bool? Holds { get; set; }

        public bool Asked { get; set; }
    }

    /// <summary>The OS path of a relative path this client found in its own scan (no checks).</summary>
    public string FullPath(string relative) => SyncPaths.ToFull(Folder, relative);

    /// <summary>
    /// What a read of the synced file <paramref name="path"/>, now <paramref name="size"/> bytes, may identify its
    /// unchanged chunks by (<see cref="KnownChunks"/>): the list recorded with it, or an empty one (the read then only
    /// computes the fast hashes to record); null for a file under <see cref="FastHashList.MinFileSize"/>. A reconcile
    /// gets the empty one: it is the repair path, so its reads hash every chunk with SHA-256 and what it compares,
    /// uploads and records comes from the bytes alone, never from a stored list.
    /// </summary>
    public KnownChunks? KnownChunksOf(string path, long size) =>
        FastHashFor(size) is not { } hash ? null
        : Options.Reconcile ? KnownChunks.None(hash)
        : State.GetKnownChunks(path) ?? KnownChunks.None(hash);

    /// <summary>
    /// The keyed hash a file of <paramref name="size"/> bytes gets a fast-hash list with when it is read, uploaded or
    /// downloaded (<see cref="FastHashList"/>): null under <see cref="FastHashList.MinFileSize"/>, where SHA-256 alone is cheap.
    /// </summary>
    public ChunkFastHash? FastHashFor(long size) => size >= FastHashList.MinFileSize ? State.FastHash : null;

    /// <summary>
    /// The OS path where a path that came from the server (or is derived from one) is written, moved or deleted:
    /// checked against the path rules and resolved inside the folder, never through a symbolic link
    /// (<see cref="SyncPaths.Resolve"/>), and never into the client's state directory. Throws InvalidArgument naming
    /// the path and the rule.
    /// </summary>
    public string WritePath(string relative) => SyncPaths.Resolve(Folder, relative, State.StateDirectory);

    /// <summary>The state directory's relative path when it lies inside the folder (else null): never synced either way.</summary>
    public string? ReservedPath => SyncPaths.ReservedRelative(Folder, State.StateDirectory);
}
