namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>What one re-replication pass found and did.</summary>
/// <param name="UnderReplicated">Stored chunks below the factor when the pass scanned them.</param>
/// <param name="NoSource">Of those, chunks no live node holds (nothing to copy from).</param>
/// <param name="Planned">Copies ordered.</param>
/// <param name="Copied">Copies the target acknowledged.</param>
/// <param name="CopiedBytes">Stored bytes of the acknowledged copies.</param>
/// <param name="Failed">Copies that failed (tried again on a later pass).</param>
/// <param name="Elapsed">Time the copies took.</param>
/// <param name="AwaitingEvents">Under-replicated chunks skipped because a copy was just made (its "stored" event is due).</param>
internal readonly record struct ReplicationPassResult(long UnderReplicated, long NoSource, int Planned, int Copied, long CopiedBytes, int Failed, TimeSpan Elapsed, long AwaitingEvents = 0)
{
    /// <summary>Copy throughput of the pass in MB/s (10^6 bytes).</summary>
    public double MegabytesPerSecond => Elapsed > TimeSpan.Zero ? CopiedBytes / 1e6 / Elapsed.TotalSeconds : 0;
}
