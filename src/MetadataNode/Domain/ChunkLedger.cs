using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Google.Protobuf.Collections;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The chunk ledger's rules over a transaction's batch: reference counts (global and per namespace), the
/// garbage-collection candidate set, and what a node's "stored" report may change. Used by commits, the node
/// reports and the collector, so the rules live once.
/// </summary>
internal static class ChunkLedger
{
    /// <summary>True if the chunk is confirmed stored on at least one node.</summary>
    public static bool IsStored(ChunkRecord? record) => record is { State: ChunkState.Stored } && record.Locations.Count > 0;

    /// <summary>
    /// True if the chunk is confirmed stored on at least one node for which <paramref name="counts"/> holds. A commit
    /// and a plan's "already held" count only nodes that may hold new copies: a copy on a node being forgotten (or
    /// forgotten, its location not yet cleared) is about to be dropped, so a commit naming it would be acknowledged
    /// and then lost; refused as missing instead, the client puts the chunk elsewhere.
    /// </summary>
    public static bool IsStored(ChunkRecord? record, Func<string, bool> counts) =>
        record is { State: ChunkState.Stored } && record.Locations.Any(counts);

    /// <summary>
    /// True if the chunk was stored and no copy of it is left: every node that held it reported it corrupt (or was
    /// forgotten). Versions referencing it are damaged: they cannot be downloaded until the bytes are uploaded again.
    /// </summary>
    public static bool IsLost(ChunkRecord? record) => record is { State: ChunkState.Stored, Locations.Count: 0 };

    /// <summary>
    /// Records that <paramref name="nodeId"/> no longer holds an intact copy (its scrub quarantined it): the node stops
    /// being a location, so no plan sends a client there and re-replication copies a good replica back. Returns whether
    /// the node was a location.
    /// </summary>
    public static bool MarkCorrupt(RecordBatch batch, string nodeId, ChunkId id)
    {
        var record = batch.GetChunk(id);
        if (record is null || !record.Locations.Remove(nodeId))
        {
            return false;
        }

        batch.PutChunk(id, record);
        return true;
    }

    /// <summary>The committed chunk record, or null.</summary>
    public static ChunkRecord? Read(RocksEngine engine, ChunkId id) => RecordBatch.ReadChunk(engine, id);

    /// <summary>Adds <paramref name="delta"/> references from one version to each distinct chunk it names.</summary>
    public static void AddReferences(RecordBatch batch, string ns, PathEntry entry, int delta, long now)
    {
        if (entry.Deleted || entry.Kind != PathKind.File || entry.Chunks.Count == 0)
        {
            return;
        }

        var seen = new HashSet<ChunkId>(entry.Chunks.Count);
        foreach (var chunk in entry.Chunks)
        {
            var id = chunk.Id;
            if (!seen.Add(id))
            {
                continue;
            }

            var record = batch.GetChunk(id);
            if (record is null)
            {
                if (delta > 0)
                {
                    throw new DropboxException(ErrorKind.Internal, $"Chunk {id} has no record but a version references it.");
                }

                continue;
            }

            var before = record.Refcount;
            record.Refcount = Math.Max(0, before + delta);
            if (before == 0 && record.Refcount > 0 && record.DeletingLocations.Count == 0)
            {
                // (A chunk with deletions still owed on a node that was down stays a candidate: the collector finishes them.)
                batch.RemoveGcCandidate(id);
            }
            else if (before > 0 && record.Refcount == 0)
            {
                record.ZeroSinceUnixMs = now;
                batch.AddGcCandidate(id);
            }

            batch.PutChunk(id, record);

            var nsChunk = batch.GetNamespaceChunk(ns, id) ?? new NamespaceChunkRecord();
            nsChunk.Refs = Math.Max(0, nsChunk.Refs + delta);
            batch.PutNamespaceChunk(ns, id, nsChunk.Refs == 0 && nsChunk.UploadedUnixMs == 0 ? null : nsChunk);
        }
    }

    /// <summary>
    /// True when a node's verified "I hold it" would change nothing in <paramref name="record"/> but its grace clock:
    /// stored, <paramref name="nodeId"/> a listed location (not unconfirmed), nothing being deleted or lost, and the grace
    /// clock either stopped (referenced) or started at or after <paramref name="freshSinceMs"/>. A commit's check of
    /// chunks its own account just uploaded (every chunk of a first upload: the node's event already recorded them
    /// exactly so) then need not rewrite each record, which was a second write of every new chunk.
    /// </summary>
    public static bool AlreadyStoredOn(ChunkRecord? record, string nodeId, long freshSinceMs) =>
        record is { State: ChunkState.Stored, DeletingLocations.Count: 0, LostWithNode.Length: 0 }
        && record.Locations.Contains(nodeId)
        && !record.UnconfirmedLocations.Contains(nodeId)
        && (record.Refcount > 0 || record.ZeroSinceUnixMs >= freshSinceMs);

    /// <summary>Adds <paramref name="nodeId"/> to one of a record's node lists unless it is there already.</summary>
    public static void AddOnce(RepeatedField<string> nodes, string nodeId)
    {
        if (!nodes.Contains(nodeId))
        {
            nodes.Add(nodeId);
        }
    }

    /// <summary>
    /// Records that <paramref name="nodeId"/> holds a chunk. An unverified event for a chunk being (or just)
    /// deleted, or from a node whose deletion of it finished (<see cref="ChunkRecord.DeletedFrom"/>: the event may be
    /// held up since before it), or any event from a node the chunk is still to be deleted from, is not trusted: the
    /// bytes may be gone, so a commit will ask the node instead. But they may be there too (a re-upload), so the node
    /// is noted as an unconfirmed location and the chunk stays a collection candidate: bytes no commit confirms are
    /// deleted after the grace, and an account cannot fill disks by re-uploading a deleted chunk it never commits.
    /// Returns whether the chunk is now recorded as stored.
    /// </summary>
    public static bool MarkStored(RecordBatch batch, string nodeId, ChunkId id, uint size, ChunkEncoding encoding, uint storedSize, long now, bool verified)
    {
        var record = batch.GetChunk(id);
        if (record is null)
        {
            record = new ChunkRecord { State = ChunkState.Unknown, ZeroSinceUnixMs = now };
        }

        // An unverified event from a node already listed unconfirmed stays unconfirmed whatever the record's state
        // (another node may have confirmed the chunk since): it may be the same held-up event resent by the node's
        // outbox, describing bytes since deleted there. Only the node's own answer to a check promotes it.
        if (!verified && record.UnconfirmedLocations.Contains(nodeId))
        {
            return false;
        }

        // A node the collector still has to delete the chunk from is never trusted, not even by its own answer: that
        // deletion may be on its way to it (or come once it is back), and would take what it holds. Any other node's own
        // answer is trusted while the deletion waits for a node that is down: its copy is not one being deleted (it
        // was not listed, or its deletion has finished), so the content is stored again, and the deletions still owed
        // stay listed (the collector finishes them; GarbageCollector).
        var deletingHere = record.DeletingLocations.Contains(nodeId);
        if (deletingHere || (!verified && (record.State is ChunkState.Deleting or ChunkState.Deleted || record.DeletedFrom.Contains(nodeId))))
        {
            AddOnce(record.UnconfirmedLocations, nodeId);

            if (record.State == ChunkState.Deleted)
            {
                // Deleting restarts the grace when its deletion completes.
                record.ZeroSinceUnixMs = now;
            }

            batch.AddGcCandidate(id);
            batch.PutChunk(id, record);
            return false;
        }

        record.State = ChunkState.Stored;
        record.LostWithNode = string.Empty; // a copy again (say, the content uploaded anew): no longer lost
        record.DeletedFrom.Remove(nodeId); // its own answer: what it holds now
        record.UnconfirmedLocations.Remove(nodeId);
        AddOnce(record.Locations, nodeId);

        if (size != 0)
        {
            record.Size = size;
            record.Encoding = (StoredEncoding)encoding;
            record.StoredSize = storedSize != 0 ? storedSize : size;
        }

        if (record.Refcount == 0)
        {
            record.ZeroSinceUnixMs = now;
            batch.AddGcCandidate(id);
        }

        batch.PutChunk(id, record);
        return true;
    }
}
