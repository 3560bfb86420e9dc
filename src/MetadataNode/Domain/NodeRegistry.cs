using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Dropbox.MetadataNode.Storage;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The storage nodes: registration, heartbeats and liveness. Kept in memory (loaded at open) and written through
/// the store's transactions. Knows nothing of chunks or the wire. Hands out <see cref="StorageNodeInfo"/> values; each is
/// kept with the stored message it was read from (<see cref="NodeEntry"/>), so a rewrite keeps fields a later release added.
/// </summary>
internal sealed partial class NodeRegistry
{
    private const int MaxUrlLength = 2048;
    private readonly ConcurrentDictionary<string, NodeEntry> _nodes = new(StringComparer.Ordinal);

    // Put tokens handed out and not yet reported stored: (node, chunk) -> until when (UTC ticks) the put may still
    // come (memory only; expired entries are swept every SweepEvery notes and on each look-up).
    private const int SweepEvery = 4096;
    private readonly ConcurrentDictionary<(string Node, ChunkId Id), long> _puts = new();
    private long _notes;

    // Register, heartbeat and drain each read a node's record, change a field and write it back: one at a time, so a
    // heartbeat that read the record before a drain cannot write the old flag back after it.
    private readonly Lock _update = new();
    private readonly StoreTransactions _transactions;
    private readonly MetadataNodeOptions _options;
    private readonly ILogger _logger;

    // Ids forgotten by 'nodes forget': they may not register again (their stale locations are gone; a node coming back
    // with one would be trusted with nothing it holds, so it is refused clearly instead).
    private readonly ConcurrentDictionary<string, ForgottenNodeEntry> _forgotten = new(StringComparer.Ordinal);

    // Nodes a forget is running for: no new copy is recorded on them and nothing is placed there (set and read under
    // the write lock), so the forget's scan, taken outside every lock, cannot miss a copy.
    private readonly ConcurrentDictionary<string, byte> _forgetting = new(StringComparer.Ordinal);

    public NodeRegistry(IEnumerable<NodeEntry> stored, IEnumerable<ForgottenNodeEntry> forgotten, StoreTransactions transactions, MetadataNodeOptions options, ILogger logger)
    {
        foreach (var gone in forgotten)
        {
            _forgotten[gone.Node.NodeId] = gone;
        }

        // The put tokens handed out before a restart are not known (they are noted in memory only), yet stay valid for
        // up to a token lifetime: until then each node registered before the restart counts as having one outstanding
        // (the all-zero id stands for them), so a drain is not reported "drained" while a put may still land there.
        var fence = options.Clock.GetUtcNow().UtcTicks + (options.TokenLifetime + options.EventWait).Ticks;
        foreach (var entry in stored)
        {
            _nodes[entry.Node.NodeId] = entry;
            _puts[(entry.Node.NodeId, default)] = fence;
        }

        _transactions = transactions;
        _options = options;
        _logger = logger;
    }

    private long NowMs => _options.Clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Storage nodes ever registered.</summary>
    public int Count => _nodes.Count;

    /// <summary>Registers (or re-registers) a storage node; returns how often it should send a heartbeat.</summary>
    public TimeSpan Register(NodeRegistration registration)
    {
        var nodeId = ValidNodeId(registration.NodeId);
        if (!Uri.TryCreate(registration.GrpcUrl, UriKind.Absolute, out var grpc) || (grpc.Scheme != Uri.UriSchemeHttp && grpc.Scheme != Uri.UriSchemeHttps))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"grpc_url must be an absolute http(s) URL; got '{registration.GrpcUrl}'.");
        }

        if (registration.GrpcUrl.Length > MaxUrlLength || registration.HttpUrl.Length > MaxUrlLength)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"grpc_url and http_url are at most {MaxUrlLength} characters.");
        }

        if (registration.HttpUrl.Length > 0 && !Uri.TryCreate(registration.HttpUrl, UriKind.Absolute, out _))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"http_url must be an absolute URL; got '{registration.HttpUrl}'.");
        }

        NodeEntry? known;
        lock (_update)
        {
            if (_forgotten.ContainsKey(nodeId))
            {
                throw new DropboxException(ErrorKind.Conflict, $"Storage node '{nodeId}' was forgotten ('nodes forget'): its chunks are no longer recorded. Wipe its data directory and start it with a new --node-id to add it again.")
                    .WithDetail(ClusterErrorDetails.NodeForgotten, "1");
            }

            _nodes.TryGetValue(nodeId, out known);
            var arrival = Interlocked.Increment(ref _arrivals);
            var node = new StorageNodeInfo
            {
                NodeId = nodeId,
                GrpcUrl = registration.GrpcUrl,
                HttpUrl = registration.HttpUrl,
                CapacityBytes = registration.CapacityBytes,
                UsedBytes = registration.UsedBytes,
                LastHeartbeatUnixMs = NowMs,
                Full = registration.Full,
                Draining = known is not null && known.Node.Draining, // a restart does not end a drain
            };
            Save(new NodeEntry(node, known?.Read));
            if (_heard.TryGetValue(nodeId, out var heard) && heard.Arrival < arrival)
            {
                _heard.TryRemove(new KeyValuePair<string, Heard>(nodeId, heard)); // older than the registration: must not show through
            }
        }

        Log.NodeRegistered(_logger, nodeId, registration.GrpcUrl);
        if (known is not null)
        {
            Returned?.Invoke(nodeId);
        }

        return _options.HeartbeatInterval;
    }

    /// <summary>Marks a node draining (or no longer); NotFound for a node never registered.</summary>
    public StorageNodeInfo SetDraining(string nodeId, bool draining)
    {
        nodeId = ValidNodeId(nodeId);
        lock (_update)
        {
            if (!_nodes.TryGetValue(nodeId, out var existing))
            {
                throw new DropboxException(ErrorKind.NotFound, $"No storage node '{nodeId}' is registered; 'nodes list' shows them.");
            }

            var entry = existing with { Node = existing.Node with { Draining = draining } };
            Save(entry);
            return Current(entry); // with the heartbeats heard while the drain waited for the writer (review hb51)
        }
    }

    /// <summary>
    /// Writes a node's new value, then publishes it, under the write lock (as <see cref="BeginForget"/> does): published
    /// after the lock was released, a commit's locked step could still see a node not draining whose drain a node
    /// report then calls done, and record a copy there after it. Call it under <see cref="_update"/>: each change reads
    /// the value it replaces there.
    /// </summary>
    private void Save(NodeEntry entry)
    {
        BeforeSave?.Invoke();
        Write(entry, published: null);
    }

    /// <summary>Writes a node's new value through the writer and publishes it under the write lock, then runs <paramref name="published"/> there.</summary>
    private void Write(NodeEntry entry, Action? published)
    {
        _transactions.Mutate<object?>(
            null,
            (batch, _) =>
            {
                batch.PutNode(entry);
                return null;
            },
            committed: _ =>
            {
                _nodes[entry.Node.NodeId] = entry;
                published?.Invoke();
            });
    }

    /// <summary>Tests: runs in a registration's or a drain's write under <see cref="_update"/>, before it waits for the writer.</summary>
    internal Action? BeforeSave { get; set; }

    /// <summary>
    /// Starts forgetting a registered node: from the moment this returns (it is published under the write lock) no
    /// report or commit records a new copy on it and no plan places a chunk there, so a scan of the chunk records taken
    /// after it sees every copy the node will ever be credited with. Returns false when the node was already forgotten
    /// (a forget interrupted before its locations were cleared is being resumed). NotFound for a node never registered;
    /// Conflict while another forget of it runs. End it with <see cref="Forget"/> or <see cref="CancelForget"/>.
    /// </summary>
    public bool BeginForget(string nodeId)
    {
        nodeId = ValidNodeId(nodeId);
        lock (_update)
        {
            if (_forgotten.ContainsKey(nodeId))
            {
                return false;
            }

            if (!_nodes.ContainsKey(nodeId))
            {
                throw new DropboxException(ErrorKind.NotFound, $"No storage node '{nodeId}' is registered; 'nodes list' shows them.");
            }

            if (_forgetting.ContainsKey(nodeId))
            {
                throw new DropboxException(ErrorKind.Conflict, $"Storage node '{nodeId}' is already being forgotten; wait for that call to finish.");
            }

            _transactions.Exclusive(() => _forgetting.TryAdd(nodeId, 0));
            return true;
        }
    }

    /// <summary>A forget that was refused: the node takes new copies again.</summary>
    public void CancelForget(string nodeId) => _forgetting.TryRemove(nodeId, out _);

    /// <summary>
    /// Takes a node <see cref="BeginForget">being forgotten</see> out of the registry for good and records it as
    /// forgotten, in one transaction that first runs <paramref name="check"/> (which may refuse by throwing: then nothing
    /// changes and the node stays being forgotten until <see cref="CancelForget"/>). The registry changes under the
    /// write lock, so every later write sees the node gone. Heartbeats, registrations and "stored" reports from it are
    /// refused from then on.
    /// </summary>
    public void Forget(string nodeId, Action<RecordBatch> check)
    {
        nodeId = ValidNodeId(nodeId);
        lock (_update)
        {
            if (!_forgetting.ContainsKey(nodeId))
            {
                throw new InvalidOperationException($"Forget of '{nodeId}' was not begun.");
            }

            var record = new ForgottenNodeEntry(new ForgottenNodeInfo(nodeId, NowMs, AllLocationsCleared: false), Read: null);
            _transactions.WriteNow<object?>(batch =>
            {
                check(batch);
                batch.DeleteNode(nodeId);
                batch.PutForgottenNode(record);
                return null;
            }, committed =>
            {
                _forgotten[nodeId] = record;
                _nodes.TryRemove(nodeId, out _);
                _forgetting.TryRemove(nodeId, out _);
                _heard.TryRemove(nodeId, out _);
            });
            foreach (var key in _puts.Keys.Where(k => string.Equals(k.Node, nodeId, StringComparison.Ordinal)))
            {
                _puts.TryRemove(key, out _);
            }
        }
    }

    /// <summary>
    /// True if a new copy may be recorded on the node: it is registered, not forgotten and not being forgotten. Call it
    /// under the write lock (inside the transaction that records the copy): forgetting changes these under that lock.
    /// </summary>
    public bool MayHoldNewCopies(string nodeId) => _nodes.ContainsKey(nodeId) && !_forgotten.ContainsKey(nodeId) && !_forgetting.ContainsKey(nodeId);

    /// <summary>
    /// True if the node is live now (<see cref="IsLive"/>, its newest heartbeat heard, see <see cref="Heartbeat"/>) and
    /// <see cref="MayHoldNewCopies"/>: the nodes whose copies of a chunk an account put and does not reference yet count
    /// for its commit, judged when its check runs. A copy on a node that fell silent (dead, not forgotten) is not counted:
    /// acknowledged, the file's only copy may be on a node that never comes back. A heartbeat is heard without waiting
    /// for the writer, so a node heartbeating all along is live at the check however long the commit waited for it.
    /// </summary>
    public bool HoldsLiveCopies(string nodeId) =>
        MayHoldNewCopies(nodeId) && _nodes.TryGetValue(nodeId, out var entry) && IsLive(Current(entry));

    /// <summary>True while a forget of the node runs.</summary>
    public bool IsBeingForgotten(string nodeId) => _forgetting.ContainsKey(nodeId);

    /// <summary>Notes, durably, that every chunk record has dropped the forgotten node.</summary>
    public void ForgetDone(string nodeId)
    {
        lock (_update)
        {
            if (!_forgotten.TryGetValue(nodeId, out var record) || record.Node.AllLocationsCleared)
            {
                return;
            }

            var done = record with { Node = record.Node with { AllLocationsCleared = true } };
            _transactions.WriteNow<object?>(batch =>
            {
                batch.PutForgottenNode(done);
                return null;
            });
            _forgotten[nodeId] = done;
        }
    }

    /// <summary>Every forgotten node (for <c>nodes list</c>).</summary>
    public List<ForgottenNodeInfo> Forgotten() => _forgotten.Values.Select(f => f.Node).ToList();

    /// <summary>
    /// Until when the restart fence keeps the node from reading "drained": at open, every node registered before counts
    /// as having one put token outstanding for the token lifetime plus the event wait (tokens handed out before the
    /// restart are not known, yet stay valid that long); null once it expired (or for a node registered since).
    /// </summary>
    public DateTimeOffset? RestartFenceUntil(string nodeId) =>
        _puts.TryGetValue((nodeId, default), out var until) && until > _options.Clock.GetUtcNow().UtcTicks
            ? new DateTimeOffset(until, TimeSpan.Zero)
            : null;

    /// <summary>True if the id was forgotten.</summary>
    public bool IsForgotten(string nodeId) => _forgotten.ContainsKey(nodeId);

    /// <summary>Forgotten nodes whose chunk locations were not all cleared yet (a forget cut short by a crash).</summary>
    public List<string> UnfinishedForgets() => _forgotten.Values.Where(f => !f.Node.AllLocationsCleared).Select(f => f.Node.NodeId).ToList();

    /// <summary>
    /// Nodes new chunks may go to: live, not draining and not full (a full node refuses every put until it has space
    /// again). If none is left, the live ones that are not draining, then the live ones: an upload still gets an answer
    /// (a full node's is a clear RESOURCE_EXHAUSTED), and a drain waits for a new node.
    /// </summary>
    public List<StorageNodeInfo> PlacementNodes()
    {
        var live = LiveNodes().Where(n => !_forgetting.ContainsKey(n.NodeId)).ToList();
        var healthy = live.Where(n => !n.Draining && !n.Full).ToList();
        if (healthy.Count > 0)
        {
            WarnIfFewerThanReplicas(healthy.Count);
            return healthy;
        }

        var notDraining = live.Where(n => !n.Draining).ToList();
        return notDraining.Count > 0 ? notDraining : live;
    }

    /// <summary>
    /// Says so (at most once a minute) when fewer nodes can take new chunks than the replication factor asks for: an
    /// upload is then acknowledged with fewer copies, which the under-replicated count shows until re-replication adds
    /// them once a node has space again.
    /// </summary>
    private void WarnIfFewerThanReplicas(int nodes)
    {
        var factor = Math.Max(1, _options.ReplicationFactor);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastShortPlacementWarning);
        if (nodes < factor && now - last >= 60_000 && Interlocked.CompareExchange(ref _lastShortPlacementWarning, now, last) == last)
        {
            Log.FewerPlacementNodesThanReplicas(_logger, nodes, factor);
        }
    }

    private long _lastShortPlacementWarning = long.MinValue / 2;

    /// <summary>
    /// Says so (at most once a minute) when a plan asked to avoid nodes and fewer other nodes are left than the
    /// replication factor asks for: the avoided nodes then take the remaining copies (placement never drops a copy to
    /// honour the list), so the puts to them may fail again and the upload retry.
    /// </summary>
    public void WarnIfAvoidingCostsCopies(int others, IReadOnlyCollection<string> avoided)
    {
        var factor = Math.Max(1, _options.ReplicationFactor);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastAvoidWarning);
        if (others < factor && now - last >= 60_000 && Interlocked.CompareExchange(ref _lastAvoidWarning, now, last) == last)
        {
            Log.AvoidedNodesFillReplicas(_logger, string.Join(", ", avoided), others, factor);
        }
    }

    private long _lastAvoidWarning = long.MinValue / 2;

    /// <summary>Notes that a put token naming <paramref name="nodeId"/> and <paramref name="id"/> may be used (and its event arrive) until <paramref name="untilTicks"/>.</summary>
    public void NotePut(string nodeId, ChunkId id, long untilTicks)
    {
        _puts[(nodeId, id)] = untilTicks;
        if (Interlocked.Increment(ref _notes) % SweepEvery == 0)
        {
            Sweep();
        }
    }

    /// <summary>The node reported the chunk stored: that put no longer keeps the node from being drained.</summary>
    public void PutLanded(string nodeId, ChunkId id) => _puts.TryRemove((nodeId, id), out _);

    /// <summary>True while a put token handed out for the node may still be used: a draining node is not drained yet.</summary>
    public bool HasOutstandingPuts(string nodeId)
    {
        Sweep();
        return _puts.Keys.Any(k => string.Equals(k.Node, nodeId, StringComparison.Ordinal));
    }

    private void Sweep()
    {
        var now = _options.Clock.GetUtcNow().UtcTicks;
        foreach (var (key, until) in _puts)
        {
            if (until <= now)
            {
                _puts.TryRemove(key, out _);
            }
        }
    }

    /// <summary>Every registered node, as known now (its newest heartbeat heard, see <see cref="Current"/>).</summary>
    public List<StorageNodeInfo> All() => _nodes.Values.Select(Current).ToList();

    /// <summary>The registered node (by a valid id), as known now; NotFound if it never registered.</summary>
    public StorageNodeInfo Require(string nodeId) => Current(RequireEntry(nodeId));

    private NodeEntry RequireEntry(string nodeId) =>
        _nodes.TryGetValue(nodeId, out var existing)
            ? existing
            : throw new DropboxException(ErrorKind.NotFound, _forgotten.ContainsKey(nodeId)
                ? $"Node '{nodeId}' was forgotten ('nodes forget'): wipe its data directory and start it with a new --node-id."
                : $"Node '{nodeId}' is not registered: call RegisterNode first.");

    /// <summary>The registered node, if any, as known now.</summary>
    public bool TryGet(string nodeId, [NotNullWhen(true)] out StorageNodeInfo? node)
    {
        node = _nodes.TryGetValue(nodeId, out var entry) ? Current(entry) : null;
        return node is not null;
    }

    /// <summary>
    /// Offline (a stopped metadata node's store, opened by an admin verb) no heartbeat arrives, so against the clock every
    /// node would read dead. After <see cref="JudgeLivenessAsOfNewestHeartbeat"/> liveness is judged as of the newest
    /// heartbeat recorded instead (about when the metadata node stopped): null online.
    /// </summary>
    public long? LivenessAsOfMs { get; private set; }

    /// <summary>
    /// For the offline verbs: judges liveness as of the newest heartbeat any node recorded (see
    /// <see cref="LivenessAsOfMs"/>: the stored one; offline none is heard); returns that time, or null when no node ever
    /// heartbeated.
    /// </summary>
    public DateTimeOffset? JudgeLivenessAsOfNewestHeartbeat()
    {
        if (_nodes.IsEmpty)
        {
            return null;
        }

        LivenessAsOfMs = _nodes.Values.Max(n => n.Node.LastHeartbeatUnixMs);
        return DateTimeOffset.FromUnixTimeMilliseconds(LivenessAsOfMs.Value);
    }

    private long LivenessNowMs => LivenessAsOfMs ?? NowMs;

    /// <summary>Registered nodes whose newest heartbeat heard is fresh.</summary>
    public List<StorageNodeInfo> LiveNodes()
    {
        var cutoff = LivenessNowMs - (long)_options.NodeTimeout.TotalMilliseconds;
        var result = new List<StorageNodeInfo>(_nodes.Count);
        foreach (var entry in _nodes.Values)
        {
            var node = Current(entry);
            if (node.LastHeartbeatUnixMs >= cutoff)
            {
                result.Add(node);
            }
        }

        return result;
    }

    /// <summary>True if the node's heartbeat is fresh (pass a value this registry handed out: it carries the newest one heard).</summary>
    public bool IsLive(StorageNodeInfo node) => node.LastHeartbeatUnixMs >= LivenessNowMs - (long)_options.NodeTimeout.TotalMilliseconds;

    /// <summary>The id checked (InvalidArgument if malformed).</summary>
    public static string ValidNodeId(string nodeId)
    {
        try
        {
            return new NodeId(nodeId).Value;
        }
        catch (ArgumentException ex)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, ex.Message, ex);
        }
    }
}
