namespace Dropbox.StorageNode.Tests.Engine.PowerLoss;

/// <summary>What one seeded power-loss run found.</summary>
public sealed class PowerLossReport
{
    public PowerLossReport(int seed) => Seed = seed;

    public int Seed { get; }

    /// <summary>Power cuts simulated (each followed by a recovery).</summary>
    public int Crashes { get; set; }

    /// <summary>Cuts that hit the recovery itself (the engine was opening).</summary>
    public int CrashesDuringRecovery { get; set; }

    /// <summary>Cuts that hit the checks after a recovery (a scrub quarantining a torn chunk writes).</summary>
    public int CrashesDuringChecks { get; set; }

    /// <summary>Recoveries that had to rebuild the index (its checkpoint folder was gone).</summary>
    public int IndexRebuilds { get; set; }

    /// <summary>Acknowledged chunk checks made after recoveries.</summary>
    public long AcknowledgedChecks { get; set; }

    /// <summary>Recoveries whose named index checkpoint was gone though nobody dropped it (each costs a full rebuild).</summary>
    public int CheckpointsLost { get; set; }

    /// <summary>Chunks acknowledged during the run.</summary>
    public long Acknowledged { get; set; }

    /// <summary>Acknowledged chunks missing or wrong after a recovery: each a line naming the crash.</summary>
    public List<string> Lost { get; } = new();

    /// <summary>Chunks served whose bytes do not hash to their id (torn or corrupt).</summary>
    public List<string> Torn { get; } = new();

    /// <summary>Chunks whose delete was acknowledged but that were readable again after a recovery.</summary>
    public List<string> Resurrected { get; } = new();

    /// <summary>Deleted chunks back after a full index rebuild (a known gap: compaction drops tombstones).</summary>
    public int ResurrectedByRebuild { get; set; }

    public override string ToString() =>
        $"seed {Seed}: {Crashes} crashes ({CrashesDuringRecovery} during recovery, {CrashesDuringChecks} during the checks, {IndexRebuilds} index folders dropped, {CheckpointsLost} named checkpoints lost), " +
        $"{Acknowledged} chunks acknowledged, {AcknowledgedChecks} checks, {Lost.Count} lost, {Torn.Count} torn, {Resurrected.Count} resurrected ({ResurrectedByRebuild} more after rebuilds)" +
        string.Concat(Lost.Concat(Torn).Concat(Resurrected).Take(5).Select(l => "\n  " + l));
}
