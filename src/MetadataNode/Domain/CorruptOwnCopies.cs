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
    /// Drops <paramref name="nodeId"/> from the own put nodes of every mark of those of <paramref name="ids"/> whose record
    /// lists the node, confirmed or not (which of the two depends on whether someone else once held the content): a mark
    /// names a node only after its event listed it there, and a corrupt report unlists it, so a report the node repeats
    /// (its whole quarantined set, every few minutes) reads no mark again. Call it under the write lock, in the report's
    /// transaction, before the node is unlisted and before anything writes a mark: the marks are read as committed.
    /// Returns how many marks changed.
    /// </summary>
    public static int DropNode(RecordBatch batch, RocksEngine engine, ICollection<string> namespaces, string nodeId, IEnumerable<ChunkId> ids, long pointReadLimit = PointReadLimit)
    {
        var listed = ids.Where(id => batch.GetChunk(id) is { } record && (record.Locations.Contains(nodeId) || record.UnconfirmedLocations.Contains(nodeId))).ToList();
        return listed.Count == 0 ? 0 : Drop(batch, engine, namespaces, nodeId, listed, pointReadLimit);
    }

    private static int Drop(RecordBatch batch, RocksEngine engine, ICollection<string> namespaces, string nodeId, List<ChunkId> ids, long pointReadLimit)
    {
        var hits = new List<(string Ns, ChunkId Id)>();
        if ((long)namespaces.Count * ids.Count <= pointReadLimit)
        {
            foreach (var ns in namespaces)
            {
                foreach (var id in ids)
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
            var wanted = ids.ToHashSet();
            engine.Visit(engine.NamespaceChunks, [], [], (key, value) =>
            {
                if (key.Length > ChunkId.Size && wanted.Contains(Keys.ChunkOfNamespaceChunkKey(key)) && Names(value, nodeId))
                {
                    hits.Add((Keys.NamespaceOfKey(key), Keys.ChunkOfNamespaceChunkKey(key)));
                }

                return true;
            });
        }

        foreach (var (ns, id) in hits)
        {
            var mark = batch.GetNamespaceChunk(ns, id)!;
            mark.UploadedOn.Remove(nodeId);
            batch.PutNamespaceChunk(ns, id, mark);
        }

        return hits.Count;
    }

    private static bool Names(ReadOnlySpan<byte> mark, string nodeId) => NamespaceChunkRecord.Parser.ParseFrom(mark).UploadedOn.Contains(nodeId);
}
