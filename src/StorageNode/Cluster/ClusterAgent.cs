using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Store;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ProtoEncoding = Dropbox.Shared.Protos.Common.ChunkEncoding;

namespace Dropbox.StorageNode.Cluster;

/// <summary>
/// Talks to the metadata node in the background: registers this node, heartbeats, and delivers the outbox's
/// "chunk stored" events at least once. Never blocks startup; while the metadata node is unreachable it retries
/// with capped back-off and the events wait on disk.
/// </summary>
public sealed partial class ClusterAgent : BackgroundService
{
    private const int BatchSize = 500;

    /// <summary>How often the whole quarantined set is reported again (a report the metadata node lost or undid).</summary>
    private static readonly TimeSpan CorruptResendInterval = TimeSpan.FromMinutes(5);

    // Held around taking stored events and sending them, and around sending a corrupt report: a stored event taken
    // before a quarantine then arrives before the report of it, never after (which would list this node again).
    private readonly SemaphoreSlim _reportGate = new(1, 1);

    private readonly StorageNodeOptions _options;
    private readonly ChunkStore _store;
    private readonly ChunkTokenService _tokens;
    private readonly NodeAddresses _addresses;
    private readonly ILogger<ClusterAgent> _logger;

    /// <summary>Creates the agent.</summary>
    public ClusterAgent(StorageNodeOptions options, ChunkStore store, ChunkTokenService tokens, NodeAddresses addresses, ILogger<ClusterAgent> logger)
    {
        _options = options;
        _store = store;
        _tokens = tokens;
        _addresses = addresses;
        _logger = logger;
    }

    /// <summary>Events delivered since start (diagnostics).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    private long _delivered;

    // Cancelled when the metadata node refuses this node for good (it was forgotten by 'nodes forget'): registering,
    // heartbeats and event delivery stop instead of retrying forever.
    private readonly CancellationTokenSource _retired = new();

    /// <summary>True once the metadata node refused this node's id for good (forgotten): the agent has stopped.</summary>
    public bool Retired => _retired.IsCancellationRequested;

    /// <summary>Test hook: runs while a corrupt report is on its way (after the quarantined set was read, before it is sent).</summary>
    internal Func<IReadOnlyList<ChunkId>, Task>? WhileReportingCorrupt { get; set; }

    /// <inheritdoc />
    public override void Dispose()
    {
        _retired.Dispose();
        _reportGate.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (string.IsNullOrEmpty(_options.MetadataUrl))
        {
            return;
        }

        (string Grpc, string Http) urls;
        try
        {
            urls = await _addresses.WhenBound.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        using var channel = GrpcChannel.ForAddress(_options.MetadataUrl, new GrpcChannelOptions { HttpHandler = _options.MetadataTrust.CreateHandler() });
        var client = new Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient(channel);
        using var running = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _retired.Token);
        await Task.WhenAll(
            RegisterAndHeartbeatAsync(client, urls, running.Token),
            DeliverEventsAsync(client, running.Token),
            ReportCorruptAsync(client, running.Token)).ConfigureAwait(false);
    }

    private Metadata Auth()
    {
        var token = _tokens.IssueSystem("metadata", TimeSpan.FromMinutes(5));
        return new Metadata { { "authorization", "Bearer " + token } };
    }

    /// <summary>The credential of a report about this node's own copies (the metadata node checks it names this node).</summary>
    private Metadata NodeReportAuth()
    {
        var token = _tokens.IssueNodeReport(_store.NodeId.Value, "metadata", TimeSpan.FromMinutes(5));
        return new Metadata { { "authorization", "Bearer " + token } };
    }

    private async Task RegisterAndHeartbeatAsync(Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient client, (string Grpc, string Http) urls, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var heartbeat = TimeSpan.FromSeconds(10);
        var registered = false;
        var registering = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var stats = _store.Engine.GetStats();
                registering = !registered;
                if (!registered)
                {
                    var answer = await client.RegisterNodeAsync(new RegisterNodeRequest
                    {
                        NodeId = _store.NodeId.Value,
                        GrpcUrl = _options.AdvertiseGrpcUrl ?? urls.Grpc,
                        HttpUrl = _options.AdvertiseHttpUrl ?? urls.Http,
                        CapacityBytes = (ulong)Math.Max(0, new DriveInfo(Path.GetFullPath(_options.DataDirectory)).AvailableFreeSpace + stats.LiveBytes + stats.DeadBytes),
                        UsedBytes = (ulong)(stats.LiveBytes + stats.DeadBytes),
                        Full = _store.Space is { IsFull: true },
                    }, Auth(), cancellationToken: ct).ConfigureAwait(false);
                    registered = true;
                    heartbeat = answer.HeartbeatSeconds > 0 ? TimeSpan.FromSeconds(answer.HeartbeatSeconds) : heartbeat;
                    Log.Registered(_logger, _store.NodeId.Value, _options.MetadataUrl!);
                }
                else
                {
                    await client.HeartbeatAsync(new HeartbeatRequest
                    {
                        NodeId = _store.NodeId.Value,
                        UsedBytes = (ulong)(stats.LiveBytes + stats.DeadBytes),
                        ChunkCount = (ulong)stats.ChunkCount,
                        Full = _store.Space is { IsFull: true },
                    }, Auth(), cancellationToken: ct).ConfigureAwait(false);
                }

                delay = TimeSpan.FromMilliseconds(200);
                await Task.Delay(heartbeat, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                if (registering && ex.StatusCode == StatusCode.FailedPrecondition && ex.Trailers.GetValue(ClusterErrorDetails.NodeForgotten) is not null)
                {
                    // The only lasting refusal of a registration, marked as such: this id was forgotten ('nodes
                    // forget'), so nothing it holds is recorded and it may never register again. Retrying cannot help;
                    // say so once and stop. Any other refusal (another FAILED_PRECONDITION included) is retried below.
                    Log.Forgotten(_logger, _store.NodeId.Value, ex.Status.Detail);
                    await _retired.CancelAsync().ConfigureAwait(false);
                    return;
                }

                if (ex.StatusCode == StatusCode.NotFound)
                {
                    registered = false; // the metadata node forgot us (a restore): register again
                }

                Log.MetadataUnreachable(_logger, "register/heartbeat", ex.Status.Detail);
                delay = await BackOffAsync(delay, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task DeliverEventsAsync(Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient client, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var outbox = _store.Outbox;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var pending = outbox.ReadPending(BatchSize);
                if (pending.Count == 0)
                {
                    await outbox.WaitForEventsAsync(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
                    continue;
                }

                bool ready;
                await _reportGate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    ready = await DeliverAsync(client, pending, ct).ConfigureAwait(false);
                }
                finally
                {
                    _reportGate.Release();
                }

                if (!ready)
                {
                    // The oldest event's put is still being made durable: look again when a put ends (that one, or
                    // another first), at most 20 ms from now.
                    await _store.WaitForPutSettledAsync(TimeSpan.FromMilliseconds(20), ct).ConfigureAwait(false);
                    continue;
                }

                delay = TimeSpan.FromMilliseconds(200);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                Log.MetadataUnreachable(_logger, "report chunks stored", ex.Status.Detail);
                delay = await BackOffAsync(delay, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The outbox could not be read or its delivered mark written (a full disk, a failed fsync): its events
                // stay there and are delivered again once it can be. Left to leave this loop, it stopped the node.
                Log.OutboxFailed(_logger, ex.Message);
                delay = await BackOffAsync(delay, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Takes the deliverable events from the front of <paramref name="pending"/> and reports them; false when none is ready yet.</summary>
    private async Task<bool> DeliverAsync(Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient client, IReadOnlyList<(StoredChunkEvent Event, long End)> pending, CancellationToken ct)
    {
        var outbox = _store.Outbox;
        var deliverable = new List<StoredChunkEvent>();
        var consumed = _store.TakeDeliverable(pending.Select(p => p.Event).ToList(), deliverable);
        if (consumed == 0)
        {
            return false;
        }

        var end = pending[consumed - 1].End;
        if (deliverable.Count == 0)
        {
            outbox.MarkDelivered(end);
            return true;
        }

        var request = new ReportChunksStoredRequest { NodeId = _store.NodeId.Value };
        foreach (var e in deliverable)
        {
            request.Chunks.Add(new StoredChunk
            {
                ChunkId = e.Id.ToByteString(),
                Size = (uint)e.PlainSize,
                Encoding = (ProtoEncoding)e.Encoding,
                StoredSize = (uint)e.StoredSize,
                NamespaceId = e.Namespace,
            });
        }

        await client.ReportChunksStoredAsync(request, Auth(), cancellationToken: ct).ConfigureAwait(false);
        outbox.MarkDelivered(end);
        Interlocked.Add(ref _delivered, deliverable.Count);
        return true;
    }

    /// <summary>
    /// Reports the chunks this node quarantined as corrupt, so the metadata node stops sending clients here for them
    /// and has an intact replica copied back (which stores them here again and ends their quarantine). Woken by a scrub
    /// that found some, and every minute (compaction quarantines too); every few minutes the whole quarantined set is
    /// sent again (a no-op for chunks the metadata node no longer lists here), so a holder listed again by an answer or
    /// a metadata restore from before a report is dropped once more. A chunk stored again while its report was on the
    /// way gets a fresh "stored" event, so the report cannot leave an intact copy unlisted.
    /// </summary>
    private async Task ReportCorruptAsync(Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient client, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var reported = new HashSet<ChunkId>();
        var lastFull = (long?)null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var quarantined = _store.QuarantinedIds();
                reported.IntersectWith(quarantined); // stored again since: a later quarantine is news again
                var full = lastFull is not { } at || Environment.TickCount64 - at >= (long)CorruptResendInterval.TotalMilliseconds;
                var toSend = full ? [.. quarantined] : quarantined.Where(id => !reported.Contains(id)).ToList();
                if (toSend.Count == 0)
                {
                    lastFull = full ? Environment.TickCount64 : lastFull;
                    await _store.WaitForQuarantinedAsync(TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
                    continue;
                }

                uint repairable = 0, lost = 0;
                var announced = 0;
                foreach (var batch in toSend.Chunk(BatchSize))
                {
                    var answer = await ReportBatchAsync(client, batch, ct).ConfigureAwait(false);
                    repairable += answer.Repairable;
                    lost += answer.Lost;
                    reported.UnionWith(batch);

                    // Stored again while the report was on the way: its stored event may have been applied before the
                    // report removed this node; announce it again so the intact copy is listed.
                    announced += await _store.AnnounceHeldAgainAsync(batch, ct).ConfigureAwait(false);
                }

                if (full)
                {
                    lastFull = Environment.TickCount64;
                }

                Log.ReportedCorrupt(_logger, toSend.Count, repairable, lost, announced);
                delay = TimeSpan.FromMilliseconds(200);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                Log.MetadataUnreachable(_logger, "report corrupt chunks", ex.Status.Detail);
                delay = await BackOffAsync(delay, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<ReportChunksCorruptResponse> ReportBatchAsync(Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient client, ChunkId[] batch, CancellationToken ct)
    {
        var request = new ReportChunksCorruptRequest { NodeId = _store.NodeId.Value };
        request.ChunkIds.AddRange(batch.Select(id => id.ToByteString()));
        if (WhileReportingCorrupt is { } hook)
        {
            await hook(batch).ConfigureAwait(false);
        }

        await _reportGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await client.ReportChunksCorruptAsync(request, NodeReportAuth(), cancellationToken: ct).ConfigureAwait(false);
        }
        finally
        {
            _reportGate.Release();
        }
    }

    private async Task<TimeSpan> BackOffAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        var next = delay * 2;
        return next > _options.MaxRetryDelay ? _options.MaxRetryDelay : next;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Registered node {Node} with the metadata node at {Url}")]
        public static partial void Registered(ILogger logger, string node, string url);

        [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Metadata node unreachable ({Operation}): {Detail}; retrying")]
        public static partial void MetadataUnreachable(ILogger logger, string operation, string detail);

        [LoggerMessage(EventId = 2105, Level = LogLevel.Error, Message = "The event outbox failed ({Detail}); its undelivered \"stored\" events stay on disk and delivery is retried")]
        public static partial void OutboxFailed(ILogger logger, string detail);

        [LoggerMessage(EventId = 2104, Level = LogLevel.Error, Message = "The metadata node refuses node {Node} for good: {Detail}. This node stops registering and reporting; wipe its data directory and start it with a new --node-id to add it again")]
        public static partial void Forgotten(ILogger logger, string node, string detail);

        [LoggerMessage(EventId = 2213, Level = LogLevel.Warning, Message = "Reported {Count} corrupt (quarantined) chunks to the metadata node: {Repairable} are being copied back from another replica, {Lost} had no intact copy left; {Announced} stored here again meanwhile were announced again")]
        public static partial void ReportedCorrupt(ILogger logger, int count, uint repairable, uint lost, int announced);
    }
}
