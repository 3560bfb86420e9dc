using System.Collections.Concurrent;
using System.Diagnostics;
using Dropbox.Shared.Chunks;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>
/// Brings every stored chunk back to the replication factor on healthy nodes: scans the chunk records, plans copies
/// (<see cref="ReplicationPlanner"/>), and has the source nodes push them to the targets in batches, at most
/// <see cref="MetadataNodeOptions.ReplicationConcurrency"/> batches at once. The targets' "chunk stored" events record
/// the new replicas; a chunk just pushed is not ordered again until its event had time to land. A source that answers
/// it cannot read a chunk (lost or corrupt there) is remembered for <see cref="BadSourceMs"/>: meanwhile that chunk is
/// copied from another holder and the bad holder's copy does not count.
/// </summary>
internal sealed partial class ReReplicator
{
    /// <summary>Most copies one pass orders (the rest wait for the next pass), so a pass's memory stays bounded.</summary>
    public const int MaxCopiesPerPass = 20_000;

    private const int MaxChunksPerBatch = 128;
    private const long MaxBytesPerBatch = 32L << 20;
    private static readonly long RecentMs = 30_000;

    /// <summary>How long a (chunk, source) pair that answered "unreadable" is avoided.</summary>
    private static readonly long BadSourceMs = 10 * 60_000;

    private readonly MetadataStore _store;
    private readonly IReplicationGateway _gateway;
    private readonly MetadataNodeOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ChunkId, long> _recent = new();
    private readonly ConcurrentDictionary<(ChunkId Id, string NodeId), long> _badSources = new();
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    public ReReplicator(MetadataStore store, IReplicationGateway gateway, MetadataNodeOptions options, ILogger logger)
    {
        _store = store;
        _gateway = gateway;
        _options = options;
        _logger = logger;
    }

    /// <summary>Copies made since start, and their stored bytes (metrics).</summary>
    public long CopiedTotal => Interlocked.Read(ref _copiedTotal);

    public long CopiedBytesTotal => Interlocked.Read(ref _copiedBytesTotal);

    private long _copiedTotal;
    private long _copiedBytesTotal;

    /// <summary>One pass: scan, plan, copy. Passes never overlap.</summary>
    public async Task<ReplicationPassResult> RunPassAsync(CancellationToken cancellationToken)
    {
        await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunPassCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    private async Task<ReplicationPassResult> RunPassCoreAsync(CancellationToken cancellationToken)
    {
        var nodes = _store.NodeStates();
        var factor = _options.ReplicationFactor;
        var nowMs = Environment.TickCount64;
        foreach (var (id, until) in _recent)
        {
            if (until < nowMs)
            {
                _recent.TryRemove(id, out _);
            }
        }

        foreach (var (pair, until) in _badSources)
        {
            if (until < nowMs)
            {
                _badSources.TryRemove(pair, out _);
            }
        }

        var copies = new List<ReplicaCopy>();
        long under = 0, noSource = 0, awaiting = 0;
        _store.VisitChunkRecords((id, record) =>
        {
            Func<string, bool>? badSource = _badSources.IsEmpty ? null : nodeId => _badSources.ContainsKey((id, nodeId));
            if (!ReplicationPlanner.IsUnderReplicated(record, nodes, factor, badSource))
            {
                return true;
            }

            under++;
            if (_recent.ContainsKey(id))
            {
                awaiting++;
                return true;
            }

            if (copies.Count >= MaxCopiesPerPass)
            {
                return true;
            }

            if (ReplicationPlanner.Plan(id, record, nodes, factor, copies, badSource) == ReplicationPlanner.Verdict.NoSource)
            {
                noSource++;
            }

            return true;
        });

        if (copies.Count == 0)
        {
            if (noSource > 0)
            {
                LogNoSource(_logger, noSource);
            }

            return new ReplicationPassResult(under, noSource, 0, 0, 0, 0, TimeSpan.Zero, awaiting);
        }

        var batches = Batch(copies);
        var clock = Stopwatch.StartNew();
        int copied = 0, failed = 0;
        long bytes = 0;
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _options.ReplicationConcurrency), CancellationToken = cancellationToken }, async (batch, ct) =>
        {
            var source = batch[0].Source;
            var target = batch[0].Target;
            try
            {
                var before = _store.PushCounters();
                var outcome = await _gateway.PushAsync(source, target, batch.Select(c => c.Id).ToList(), ct).ConfigureAwait(false);
                var pushed = outcome.Pushed.ToHashSet();
                _store.RecordPushed(target.NodeId, outcome.Pushed, before);
                var until = Environment.TickCount64 + RecentMs;
                var badUntil = Environment.TickCount64 + BadSourceMs;
                foreach (var id in outcome.Unreadable)
                {
                    _badSources[(id, source.NodeId)] = badUntil;
                }

                if (outcome.Unreadable.Count > 0)
                {
                    LogUnreadable(_logger, outcome.Unreadable.Count, source.NodeId);
                }

                long batchBytes = 0;
                foreach (var copy in batch)
                {
                    if (pushed.Contains(copy.Id))
                    {
                        _recent[copy.Id] = until;
                        batchBytes += copy.StoredBytes;
                    }
                }

                Interlocked.Add(ref copied, pushed.Count);
                Interlocked.Add(ref failed, batch.Count - pushed.Count);
                Interlocked.Add(ref bytes, batchBytes);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                Interlocked.Add(ref failed, batch.Count);
                LogCopyFailed(_logger, batch.Count, source.NodeId, target.NodeId, ex.Message);
            }
        }).ConfigureAwait(false);

        var result = new ReplicationPassResult(under, noSource, copies.Count, copied, bytes, failed, clock.Elapsed, awaiting);
        Interlocked.Add(ref _copiedTotal, copied);
        Interlocked.Add(ref _copiedBytesTotal, bytes);
        LogPass(_logger, result.Copied, result.CopiedBytes / 1e6, result.Elapsed.TotalSeconds, result.MegabytesPerSecond, result.Failed, result.UnderReplicated);
        return result;
    }

    /// <summary>Copies grouped by (source, target), each group cut into calls of bounded count and bytes.</summary>
    private static List<List<ReplicaCopy>> Batch(List<ReplicaCopy> copies)
    {
        var batches = new List<List<ReplicaCopy>>();
        foreach (var group in copies.GroupBy(c => (c.Source.NodeId, c.Target.NodeId)))
        {
            List<ReplicaCopy>? current = null;
            long currentBytes = 0;
            foreach (var copy in group)
            {
                if (current is null || current.Count >= MaxChunksPerBatch || currentBytes + copy.StoredBytes > MaxBytesPerBatch)
                {
                    current = [];
                    currentBytes = 0;
                    batches.Add(current);
                }

                current.Add(copy);
                currentBytes += copy.StoredBytes;
            }
        }

        return batches;
    }

    [LoggerMessage(EventId = 4050, Level = LogLevel.Information, Message = "Re-replication: copied {Copied} chunks ({Megabytes:0.0} MB) in {Seconds:0.00} s = {MegabytesPerSecond:0.0} MB/s; {Failed} failed; {UnderReplicated} chunks were under-replicated")]
    private static partial void LogPass(ILogger logger, int copied, double megabytes, double seconds, double megabytesPerSecond, int failed, long underReplicated);

    [LoggerMessage(EventId = 4051, Level = LogLevel.Warning, Message = "Re-replication: {Count} chunks from {Source} to {Target} failed: {Detail}")]
    private static partial void LogCopyFailed(ILogger logger, int count, string source, string target, string detail);

    [LoggerMessage(EventId = 4054, Level = LogLevel.Warning, Message = "Re-replication: {Count} chunks are unreadable on {Source} (lost or corrupt there); they are copied from another holder")]
    private static partial void LogUnreadable(ILogger logger, int count, string source);

    [LoggerMessage(EventId = 4052, Level = LogLevel.Warning, Message = "Re-replication: {Count} chunks are below the replication factor and no live node holds them; they are copied once a node holding them is back")]
    private static partial void LogNoSource(ILogger logger, long count);
}
