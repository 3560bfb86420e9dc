using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The copies of a chunk an account may count before it references the chunk: those on the nodes whose "stored" events
/// named its own puts (<see cref="NamespaceChunkRecord.UploadedOn"/>). A chunk record's locations name every holder,
/// whoever put the bytes there; counting any of them let a plan or a commit answer by another account's copy (whether
/// anyone else stores the content), and answered "held" for a put that landed on one node only, about to be lost with it.
/// Used by the node reports, plans and commits, so the rules live once.
/// </summary>
internal static class OwnCopies
{
    /// <summary>Nodes kept per mark: a put lands on R nodes, a put again on a few more; the oldest go first.</summary>
    public const int MaxNodes = 16;

    /// <summary>
    /// Records a node's "stored" event naming the namespace: the mark's time, and the node among its own put nodes. A mark
    /// older than the grace period counts for nothing (<see cref="UploadFresh"/>), so its nodes are dropped first: they
    /// named an earlier upload, whose copies may have been collected since.
    /// </summary>
    public static void NoteEvent(NamespaceChunkRecord mark, string nodeId, long nowMs, TimeSpan grace)
    {
        if (!UploadFresh(mark, nowMs, grace))
        {
            mark.UploadedOn.Clear();
        }

        if (!mark.UploadedOn.Contains(nodeId))
        {
            if (mark.UploadedOn.Count >= MaxNodes)
            {
                mark.UploadedOn.RemoveAt(0);
            }

            mark.UploadedOn.Add(nodeId);
        }

        mark.UploadedUnixMs = nowMs;
    }

    /// <summary>
    /// True for <paramref name="grace"/> after the last event naming the namespace, whatever the chunk's state: were the
    /// mark kept while the chunk stays stored, whether the chunk outlived the grace (someone else references it) or was
    /// collected (nobody does) would show in the account's plans. After it the client puts again; the node dedups and its
    /// event renews the mark.
    /// </summary>
    public static bool UploadFresh(NamespaceChunkRecord mark, long nowMs, TimeSpan grace) =>
        mark.UploadedUnixMs > 0 && nowMs - mark.UploadedUnixMs <= (long)grace.TotalMilliseconds;

    /// <summary>
    /// For a commit's wait for "stored" events: true if the namespace references the chunk, or one of its own put nodes the
    /// commit's check counts (<paramref name="live"/>) reported its upload within the grace period. The mark and the registry
    /// alone decide (never the chunk record: how long a commit waits must not depend on anyone else's content). Counting a
    /// node the check does not (dead, not forgotten), the wait for the events of a replan's puts on other nodes ended at
    /// once, and the commit was refused as missing though those puts had landed.
    /// </summary>
    public static bool EndsEventWait(NamespaceChunkRecord? mark, long nowMs, TimeSpan grace, Func<string, bool> live) =>
        mark is not null && (mark.Refs > 0 || (UploadFresh(mark, nowMs, grace) && mark.UploadedOn.Any(live)));

    /// <summary>
    /// Held as a commit of the namespace counts it: a chunk it references (or has no mark for) by any copy on a node for
    /// which <paramref name="counts"/> holds; one it owns only by its upload, only on its own put nodes for which
    /// <paramref name="countsOwn"/> holds (<see cref="IsStoredOn"/>; a commit passes nodes that may hold new copies and are live when it judges).
    /// Counting any holder, a commit of a chunk put only on a node being forgotten went through exactly when someone else
    /// stored the content elsewhere; counting a node that fell silent, it was acknowledged with the only copy there.
    /// </summary>
    public static bool HeldFor(NamespaceChunkRecord? mark, ChunkRecord? record, Func<string, bool> counts, Func<string, bool> countsOwn) =>
        mark is { Refs: 0 } ? IsStoredOn(record, mark, countsOwn) : ChunkLedger.IsStored(record, counts);

    /// <summary>
    /// For a commit: the chunk is stored, with a location on one of the account's own put nodes for which
    /// <paramref name="counts"/> holds.
    /// </summary>
    public static bool IsStoredOn(ChunkRecord? record, NamespaceChunkRecord mark, Func<string, bool> counts)
    {
        if (record is not { State: ChunkState.Stored })
        {
            return false;
        }

        foreach (var node in mark.UploadedOn)
        {
            if (counts(node) && record.Locations.Contains(node))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// For a plan: the account's own put nodes with a copy recorded, confirmed or not yet, for which
    /// <paramref name="counts"/> holds; null when none. A copy not yet confirmed (the node's event came while the content
    /// was being deleted, so it was not trusted; the commit asks the node) counts as a confirmed one does: which of the two
    /// it is depends on whether someone else once held the content.
    /// </summary>
    public static List<string>? Counted(ChunkRecord? record, NamespaceChunkRecord mark, Func<string, bool> counts)
    {
        if (record is null)
        {
            return null;
        }

        List<string>? counted = null;
        foreach (var node in mark.UploadedOn)
        {
            if (counts(node) && (record.Locations.Contains(node) || record.UnconfirmedLocations.Contains(node)))
            {
                (counted ??= new List<string>(mark.UploadedOn.Count)).Add(node);
            }
        }

        return counted;
    }
}
