using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The store's few entry points for re-replication and drain (the logic lives in <see cref="Replication"/>): node states,
/// a read-only scan of chunk records, the drain flag. Kept apart so it can be re-hooked when the store is split.
/// </summary>
internal sealed partial class MetadataStore
{
    /// <summary>Every registered node with its state now (live, dead, draining, being forgotten).</summary>
    public NodeStates NodeStates() => new(_nodeRegistry.All(), _clock.GetUtcNow().ToUnixTimeMilliseconds(), (long)_options.NodeTimeout.TotalMilliseconds, _nodeRegistry.IsBeingForgotten);

    /// <summary>Nodes new chunks may go to (see <see cref="NodeRegistry.PlacementNodes"/>).</summary>
    internal List<StorageNodeInfo> PlacementNodes() => _nodeRegistry.PlacementNodes();

    /// <summary>Visits every chunk record (a snapshot read) until <paramref name="visitor"/> returns false.</summary>
    public void VisitChunkRecords(Func<ChunkId, ChunkRecord, bool> visitor)
    {
        _engine.Visit(_engine.Chunks, [], [], (key, value) => key.Length != ChunkId.Size || visitor(new ChunkId(key), ChunkRecord.Parser.ParseFrom(value)));
    }

    /// <summary>
    /// The deletion and corrupt-report counters and the corrupt-report sequence, read before a push: <see cref="RecordPushed"/>
    /// trusts no answer made while either counter moved, nor one about a chunk the target reported corrupt since.
    /// </summary>
    public (long Deletions, long Corrupt, long CorruptSequence) PushCounters() =>
        (_transactions.ChunkDeletions, _transactions.CorruptReports, _transactions.CorruptReportSequence);

    /// <summary>
    /// Records the copies a re-replication push made on <paramref name="targetNode"/>: the target's own answer to the
    /// source's put, as good as its answer to a check, so each is a location at once (its "stored" event, which comes
    /// later, is then a repeat). Without it the copy waited for that event, which is not trusted from a node the chunk's
    /// last deletion finished on (<see cref="ChunkLedger.MarkStored"/>): such a copy never counted and a drain onto that
    /// node never ended. Nothing is recorded on a node being forgotten (checked under the write lock, as the event path
    /// does), for a chunk no longer stored, or when the collector deleted chunks or a corrupt report removed a holder since
    /// <see cref="PushCounters"/> was read before the push, nor a chunk the target itself reported corrupt since (the
    /// answer may name bytes gone or quarantined since, as for a commit's check: UploadCommit.RecordAnswers): the copy
    /// then waits for its event, or the next pass's push.
    /// </summary>
    public void RecordPushed(string targetNode, IReadOnlyList<ChunkId> ids, (long Deletions, long Corrupt, long CorruptSequence) before)
    {
        if (ids.Count == 0)
        {
            return;
        }

        var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        _transactions.Mutate<object?>(null, (batch, _) =>
        {
            if (_transactions.ChunkDeletions != before.Deletions || _transactions.CorruptReports != before.Corrupt || !_nodeRegistry.MayHoldNewCopies(targetNode))
            {
                return null;
            }

            foreach (var id in ids)
            {
                if (batch.GetChunk(id) is { State: ChunkState.Stored } && !_transactions.ReportedCorruptSince(targetNode, id, before.CorruptSequence))
                {
                    ChunkLedger.MarkStored(batch, targetNode, id, 0, default, 0, now, verified: true);
                }
            }

            return null;
        });
    }

    /// <summary>
    /// Records a storage node's report that its scrub found <paramref name="ids"/> corrupt (they are quarantined there):
    /// the node stops being a holder, so no plan sends a client there, and the next re-replication pass (asked for at
    /// once) copies an intact replica back; no account's own copy there counts any more (<see cref="CorruptOwnCopies"/>).
    /// A referenced chunk no holder is left of is lost: the versions naming it are damaged (<see cref="ListVersions"/>,
    /// the check). Repeating a report changes nothing.
    /// </summary>
    public CorruptReport ReportChunksCorrupt(string reportingNode, IReadOnlyList<ChunkId> ids)
    {
        var nodeId = NodeRegistry.ValidNodeId(reportingNode);
        _nodeRegistry.Require(nodeId);
        if (ids.Count > Limits.MaxReportedChunks)
        {
            throw UploadCommit.TooManyReported(ids.Count);
        }

        var distinct = ids.Distinct().ToList();
        var ownCopies = CorruptOwnCopies.Find(_engine, _namespaces.Keys, nodeId, distinct);
        var (repairable, lost) = _transactions.Mutate(null, (batch, _) =>
        {
            var repairable = 0;
            var lost = new List<ChunkId>();
            _transactions.NoteCorruptReportFrom(nodeId, distinct);
            CorruptOwnCopies.Drop(batch, nodeId, ownCopies);
            foreach (var id in distinct)
            {
                if (!ChunkLedger.MarkCorrupt(batch, nodeId, id))
                {
                    continue;
                }

                var record = batch.GetChunk(id)!;
                _transactions.NoteCorruptReport(id, record);

                if (!ChunkLedger.IsLost(record))
                {
                    repairable++;
                }
                else if (record.Refcount > 0)
                {
                    lost.Add(id);
                }
            }

            return (repairable, lost);
        }, sync: true);

        if (repairable > 0 || lost.Count > 0)
        {
            Interlocked.Increment(ref _repairRequests);
            LogCorruptReported(_logger, nodeId, repairable, lost.Count);
        }

        if (lost.Count > 0)
        {
            // One line per report, not per chunk: a failed disk may report 100,000 at once.
            LogChunksLost(_logger, lost.Count, nodeId, string.Join(", ", lost.Take(5)));
        }

        return new CorruptReport(repairable, lost);
    }

    /// <summary>Corrupt reports that removed a holder since start: re-replication runs a pass when it changes.</summary>
    internal long RepairRequests => Interlocked.Read(ref _repairRequests);

    private long _repairRequests;

    [LoggerMessage(EventId = 4055, Level = LogLevel.Warning, Message = "Storage node {NodeId} reported corrupt chunks: it no longer serves them; {Repairable} are copied back from another replica, {Lost} have no intact copy left")]
    private static partial void LogCorruptReported(ILogger logger, string nodeId, int repairable, int lost);

    [LoggerMessage(EventId = 4056, Level = LogLevel.Error, Message = "{Count} chunks are lost: {NodeId} held their last copy and found it corrupt (first: {FirstIds}); the versions referencing them are damaged (see history or check) until their bytes are uploaded again")]
    private static partial void LogChunksLost(ILogger logger, int count, string nodeId, string firstIds);

    /// <summary>Marks a node draining (or no longer); NotFound for a node never registered.</summary>
    public StorageNodeInfo SetDraining(string nodeId, bool draining) => _nodeRegistry.SetDraining(nodeId, draining);

    /// <inheritdoc cref="NodeForgetter.Forget"/>
    public ForgottenNode ForgetNode(string nodeId, bool force, bool live) => _forgetter.Forget(nodeId, force, live);
}
