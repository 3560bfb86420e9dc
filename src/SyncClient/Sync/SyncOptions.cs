namespace Dropbox.SyncClient.Sync;

/// <summary>How a pass behaves. Immutable; use <c>with</c> to vary.</summary>
internal sealed record SyncOptions
{
    /// <summary>Chunk puts/gets in flight at once (and files handled at once).</summary>
    public int Parallelism { get; init; } = 4;

    /// <summary>Share of synced files a pass may delete without confirmation.</summary>
    public double MassDeleteShare { get; init; } = 0.5;

    /// <summary>The guard only applies from this many deletions on.</summary>
    public int MassDeleteMinimum { get; init; } = 10;

    /// <summary>Confirms a pass that trips the mass-delete guard.</summary>
    public bool AllowMassDelete { get; init; }

    /// <summary>Takes a sync folder that is not the one synced (see <see cref="FolderIdentity"/>) as a new one: merged, nothing deleted.</summary>
    public bool ConfirmNewFolder { get; init; }

    /// <summary>Full comparison of folder, db and server by fingerprint.</summary>
    public bool Reconcile { get; init; }

    /// <summary>
    /// Lists the server's whole state instead of reading on from the cursor (the local side is scanned as usual, by
    /// size and mtime, nothing re-hashed): the daemon's pass after the machine slept.
    /// </summary>
    public bool ListAll { get; init; }

    /// <summary>Largest batch of chunk bytes sent in one PutChunks call.</summary>
    public int PutBatchBytes { get; init; } = 8 << 20;

    /// <summary>
    /// A changed file is only uploaded once it has not been modified for this long (an editor or a download
    /// may still be writing it). Zero turns the rule off. The CLI uses <see cref="DefaultStableAge"/> for the
    /// daemon and for <c>sync --once</c>.
    /// </summary>
    public TimeSpan StableAge { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// What a pass does with files younger than <see cref="StableAge"/>: false (the daemon) leaves them for
    /// its next pass at once; true (a one-shot pass, which has no next pass) waits once until they reach the
    /// age and takes those that did not change meanwhile. Either way a file still changing is reported as
    /// pending and never uploaded half-written.
    /// </summary>
    public bool WaitForStable { get; init; }

    /// <summary>The stability window of the CLI's passes.</summary>
    public static TimeSpan DefaultStableAge { get; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// With watcher evidence (the daemon), a file younger than <see cref="StableAge"/> is taken once neither a
    /// watcher event nor a write touched it for this long: a writer pausing for less is still writing. Capped at
    /// <see cref="StableAge"/>; the re-check before commit still refuses anything written after it was read.
    /// </summary>
    public TimeSpan QuietPeriod { get; init; } = DefaultQuietPeriod;

    /// <summary>The daemon's quiet period unless configured.</summary>
    public static TimeSpan DefaultQuietPeriod { get; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a pass waits for another pass on the same state directory to finish.</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Most chunks sent in one PutChunks call (with <see cref="PutBatchBytes"/>, the one batch rule of every upload). Many,
    /// so that small files' chunks share calls; a large file's batches reach <see cref="PutBatchBytes"/> first.
    /// </summary>
    public int PutBatchChunks { get; init; } = 256;

    /// <summary>
    /// A file uploaded as it is read (see the <see cref="Uploader"/>) is planned in windows of at
    /// most this many chunks or <see cref="PlanWindowBytes"/> plain bytes: two windows' bytes are held at once (one
    /// being planned, one being read), so memory stays flat in file size.
    /// </summary>
    public int PlanWindowChunks { get; init; } = 32;

    /// <summary>Plain bytes of one plan window (see <see cref="PlanWindowChunks"/>).</summary>
    public int PlanWindowBytes { get; init; } = 8 << 20;

    /// <summary>Small files per upload group (one plan and one commit call each): at most <see cref="Uploader.GroupSize"/>.</summary>
    public int UploadGroupFiles { get; init; } = Uploader.GroupSize;

    /// <summary>Most pages one read of the change feed or the file listing may take before the server's "more" is refused as endless.</summary>
    public int MaxListPages { get; init; } = RemoteChanges.MaxPages;
}
