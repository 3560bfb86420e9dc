using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// A node's corrupt report ends every account's own copy there (<see cref="NamespaceChunkRecord.UploadedOn"/>): the node
/// held one copy of the content, and it is quarantined. Kept, the node went on counting as an account's own put node, so
/// once another account's put of the same content landed a fresh copy there, the first account's plan answered "held"
/// and its commit went through on that copy (whether anyone else stores the content showed in its answers), and a
/// commit's event wait ended at once on the live node though its copy was gone (refused as missing, once per replan,
/// until the new puts' events had landed). Dropped, the account's next put there (the node dedups, its event names the
/// account) makes the node its own again.
/// </summary>
internal static class CorruptOwnCopies
{
    /// <summary>
    /// Above this many (namespace, chunk) point reads, one scan of every mark is cheaper: a failed disk may report
    /// 100,000 chunks at once, and a point read that finds nothing still costs a seek.
    /// </summary>
    public const long PointReadLimit = 1_000_000;

    /// <summary>
    /// The marks that name <paramref name="nodeId"/> among those of <paramref name="ids"/> whose record lists the node,
    /// confirmed or not (which of the two depends on whether someone else once held the content), read as committed and
    /// OUTSIDE the write lock: a failed disk's first report may name 100,000 chunks, and reading every account's marks of
    /// them (or scanning all marks) under the lock held every commit, event and heartbeat behind it for seconds. A mark
    /// that names the node only after this read came from a put that landed after the report was made (the node dedups
    /// a put of a chunk it quarantined into a fresh copy), so it rightly counts. A report the node repeats (its whole
    /// quarantined set, every few minutes) finds the node no longer a location and reads no mark again (unless the node
    /// is only an unconfirmed location: those stay listed for the collector, and their marks are read again, found clean).
    /// </summary>
    public static List<(string Ns, ChunkId Id)> Find(RocksEngine engine, ICollection<string> namespaces, string nodeId, IEnumerable<ChunkId> ids, long pointReadLimit = PointReadLimit)
    {
        var listed = ids.Where(id => ChunkLedger.Read(engine, id) is { } record && (record.Locations.Contains(nodeId) || record.UnconfirmedLocations.Contains(nodeId))).ToList();
        var hits = new List<(string Ns, ChunkId Id)>();
        if (listed.Count == 0)
        {
            return hits;
        }

        if ((long)namespaces.Count * listed.Count <= pointReadLimit)
        {
            foreach (var ns in namespaces)
            {
                foreach (var id in listed)
                {
                    if (engine.Get(Keys.NamespaceChunk(ns, id), engine.NamespaceChunks) is { } bytes && Names(bytes, nodeId))
                    {
                        hits.Add((ns, id));
                    }
                }
            }
        }
        else
        {
            var wanted = listed.ToHashSet();
            engine.Visit(engine.NamespaceChunks, [], [], (key, value) =>
            {
                if (key.Length > ChunkId.Size && wanted.Contains(Keys.ChunkOfNamespaceChunkKey(key)) && Names(value, nodeId))
                {
                    hits.Add((Keys.NamespaceOfKey(key), Keys.ChunkOfNamespaceChunkKey(key)));
                }

                return true;
            });
        }

        return hits;
    }

    /// <summary>
    /// Drops <paramref name="nodeId"/> from the own put nodes of the marks <see cref="Find"/> found, as they are now in
    /// the batch (under the write lock, in the report's transaction): a mark deleted or already without the node since is
    /// left alone. Returns how many marks changed.
    /// </summary>
    public static int Drop(RecordBatch batch, string nodeId, IEnumerable<(string Ns, ChunkId Id)> found)
    {
        var changed = 0;
        foreach (var (ns, id) in found)
        {
            if (batch.GetNamespaceChunk(ns, id) is { } mark && mark.UploadedOn.Remove(nodeId))
            {
                batch.PutNamespaceChunk(ns, id, mark);
                changed++;
            }
        }

        return changed;
    }

    private static bool Names(ReadOnlySpan<byte> mark, string nodeId) => NamespaceChunkRecord.Parser.ParseFrom(mark).UploadedOn.Contains(nodeId);
}
