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

    /// <summary>Full comparison of folder, db and server by fingerprint.</summary>
    public bool Reconcile { get; init; }

    /// <summary>Largest batch of chunk bytes sent in one PutChunks call.</summary>
    public int PutBatchBytes { get; init; } = 8 << 20;

    /// <summary>
    /// A file modified more recently than this is left for a later pass (an editor may still be writing it).
    /// Zero for one-shot passes; the daemon uses a couple of seconds and comes back for skipped files.
    /// </summary>
    public TimeSpan StableAge { get; init; } = TimeSpan.Zero;

    /// <summary>How long a pass waits for another pass on the same state directory to finish.</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Most chunks sent in one PutChunks call.</summary>
    public int PutBatchChunks { get; init; } = 16;
}
