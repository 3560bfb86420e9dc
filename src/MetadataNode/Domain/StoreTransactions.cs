using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The one transaction primitive of the metadata node: every change is computed under one write lock over a
/// <see cref="RecordBatch"/> (reads see the batch's own writes) and applied as one atomic RocksDB write batch. If the
/// body throws, nothing is written and no in-memory state changes. Every domain component writes through this.
/// </summary>
internal sealed class StoreTransactions : IDisposable
{
    private readonly RocksEngine _engine;
    private readonly WriteQueue _writes;
    private readonly object _writeLock = new();

    public StoreTransactions(RocksEngine engine, bool syncWrites)
    {
        _engine = engine;
        _writes = new WriteQueue(engine, syncWrites);
    }

    /// <summary>
    /// Runs <paramref name="body"/> under the write lock over a fresh batch and a copy of the namespace record, then
    /// writes it all as one atomic batch; the namespace's in-memory record is replaced and its waiters woken when its
    /// head moved. With <paramref name="sync"/> the batch is fsynced before this returns.
    /// </summary>
    /// <param name="committed">Runs under the write lock once the batch is written (to publish in-memory state that every later writer must see).</param>
    public T Mutate<T>(NamespaceState? ns, Func<RecordBatch, NamespaceRecord?, T> body, bool sync = false, Action<T>? committed = null)
    {
        T result;
        lock (_writeLock)
        {
            result = MutateHeld(ns, body, sync, committed);
        }

        AfterUnlock?.Invoke();
        return result;
    }

    /// <summary>
    /// <see cref="Mutate{T}"/> (no namespace, no sync) if the write lock is free at once; false, with nothing run, while
    /// another writer holds it. For a change that must not wait behind a long write (a heartbeat's record).
    /// </summary>
    public bool TryMutate(Action<RecordBatch> body, Action committed)
    {
        if (!Monitor.TryEnter(_writeLock))
        {
            return false;
        }

        try
        {
            MutateHeld<object?>(null, (batch, _) =>
            {
                body(batch);
                return null;
            }, sync: false, _ => committed());
        }
        finally
        {
            Monitor.Exit(_writeLock);
        }

        AfterUnlock?.Invoke();
        return true;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on the writer thread, after what is queued before it, without waiting for a WAL sync
    /// (its writes are not a promise to anyone); the body takes what locks it needs (a registry lock before the write
    /// lock, the order every writer takes them in). Throws <see cref="ObjectDisposedException"/> once the store is shutting down.
    /// </summary>
    public Task RunOnWriterAsync(Action body) =>
        _writes.RunAsync<object?>(() =>
        {
            body();
            return null;
        }, durable: _ => false);

    private T MutateHeld<T>(NamespaceState? ns, Func<RecordBatch, NamespaceRecord?, T> body, bool sync, Action<T>? committed)
    {
        if (ns is { Record.Removed: true })
        {
            // Its user was removed (under this lock): a call already past authentication must not write into an
            // account being purged.
            throw new DropboxException(ErrorKind.NotFound, "This account was removed; nothing more can be written to it.");
        }

        using var batch = new RecordBatch(_engine);
        var record = ns?.Record.Clone();
        var result = body(batch, record);
        if (record is not null && !record.Equals(ns!.Record))
        {
            batch.PutNamespace(record);
        }

        BeforeCommit?.Invoke();
        batch.Commit(sync);
        if (record is not null && ns is not null)
        {
            var advanced = record.Head != ns.Record.Head;
            ns.Record = record;
            if (advanced)
            {
                ns.Signal.Notify();
            }
        }

        committed?.Invoke(result);
        return result;
    }

    /// <summary>Tests: runs right after <see cref="Mutate{T}"/> releases the write lock, before it returns to its caller.</summary>
    internal Action? AfterUnlock { get; set; }

    /// <summary>
    /// <see cref="Mutate{T}"/> on the writer thread; completes once the change is durable (group commit, when
    /// <see cref="MetadataNodeOptions.SyncWrites"/>). For every change a client is told about. A result
    /// <paramref name="durable"/> says false of waits for no WAL sync (a refusal: what it wrote is a cache, not a promise).
    /// </summary>
    public Task<T> MutateDurableAsync<T>(NamespaceState? ns, Func<RecordBatch, NamespaceRecord?, T> body, Func<T, bool>? durable = null) =>
        _writes.RunAsync(() => Mutate(ns, body), durable);

    /// <summary>
    /// Runs <paramref name="body"/> under the write lock, commits its batch and forces the WAL to disk before
    /// returning: for rare administrative changes (users, tokens) that must survive power loss once answered.
    /// <paramref name="committed"/> runs under the lock once the batch is written (to publish in-memory state), even
    /// when forcing the WAL then fails: the batch is already what every read sees and what the next open finds (unless
    /// the machine loses power first), so memory must not go on saying otherwise. The failure is then thrown.
    /// </summary>
    public T WriteNow<T>(Func<RecordBatch, T> body, Action<T>? committed = null)
    {
        lock (_writeLock)
        {
            using var batch = new RecordBatch(_engine);
            var result = body(batch);
            batch.Commit();
            try
            {
                AfterWriteNowCommit?.Invoke();
                _engine.SyncWal();
            }
            finally
            {
                committed?.Invoke(result);
            }

            return result;
        }
    }

    /// <summary>Tests: runs in <see cref="Mutate{T}"/> under the write lock between the body and the batch's commit.</summary>
    internal Action? BeforeCommit { get; set; }

    /// <summary>Tests: runs in <see cref="WriteNow{T}"/> between the batch's commit and forcing the WAL (may throw).</summary>
    internal Action? AfterWriteNowCommit { get; set; }

    /// <summary>
    /// Counts collector passes that recorded chunks as deleted from their nodes (bumped under the write lock). A node's
    /// "I hold it" answer taken before the count moved may predate a deletion and must not be trusted.
    /// </summary>
    public long ChunkDeletions => Interlocked.Read(ref _chunkDeletions);

    private long _chunkDeletions;

    /// <summary>Called under the write lock by the collector when it records chunks as deleted from their nodes.</summary>
    public void NoteChunkDeletions() => Interlocked.Increment(ref _chunkDeletions);

    /// <summary>
    /// Counts corrupt reports that removed a holder (bumped under the write lock). A node's "I hold it" answer taken
    /// before the count moved may name a copy the node has since quarantined, and must not list the node again.
    /// </summary>
    public long CorruptReports => Interlocked.Read(ref _corruptReports);

    private long _corruptReports;

    /// <summary>
    /// Numbers corrupt reports, whatever they changed (bumped under the write lock): read it before a node is asked
    /// whether it holds chunks, then <see cref="ReportedCorruptSince"/> tells, per chunk, whether that node reported it
    /// corrupt since. A report of a copy the node held only unconfirmed (or not yet recorded at all) removes no holder
    /// and moves no <see cref="CorruptReports"/>, yet an "I hold it" answer the node gave before quarantining the copy
    /// would list it. Kept per chunk, not per node: a node re-sends its whole quarantined set every 5 minutes, and a
    /// count of every report refused any commit whose question to that node overlapped a re-send (review gw53).
    /// </summary>
    public long CorruptReportSequence => Interlocked.Read(ref _corruptSequence);

    private long _corruptSequence;

    // Per node: the sequence of the last report naming each chunk, and the sequence up to which the oldest entries were
    // dropped (past MaxReportedPerNode chunks: an answer asked before that is not trusted for any chunk). Under the write lock.
    private readonly Dictionary<string, (Dictionary<ChunkId, long> Last, long DroppedUpTo)> _reportedCorrupt = new(StringComparer.Ordinal);

    private const int MaxReportedPerNode = 16_384;

    /// <summary>Called under the write lock for every corrupt report <paramref name="nodeId"/> makes, with the chunks it names.</summary>
    public void NoteCorruptReportFrom(string nodeId, IReadOnlyCollection<ChunkId> ids)
    {
        var sequence = Interlocked.Increment(ref _corruptSequence);
        if (!_reportedCorrupt.TryGetValue(nodeId, out var reported))
        {
            reported = (new Dictionary<ChunkId, long>(), 0);
        }

        foreach (var id in ids)
        {
            reported.Last[id] = sequence;
        }

        // Only chunks not recorded yet grow the record: a node re-sends its whole quarantined set every 5 minutes. Past
        // the limit the oldest reports go, and only answers asked before them are no longer trusted.
        if (reported.Last.Count > MaxReportedPerNode)
        {
            reported = (reported.Last, Math.Max(reported.DroppedUpTo, TrimOldest(reported.Last)));
        }

        _reportedCorrupt[nodeId] = reported;
    }

    /// <summary>
    /// Drops the entries of the oldest reports until at most half the limit is left (not just one: a sort per report
    /// past the limit), and returns the last sequence dropped.
    /// </summary>
    private static long TrimOldest(Dictionary<ChunkId, long> last)
    {
        var sequences = last.Values.Order().ToArray();
        var droppedUpTo = sequences[sequences.Length - (MaxReportedPerNode / 2) - 1];
        foreach (var (id, at) in last.Where(e => e.Value <= droppedUpTo).ToList())
        {
            last.Remove(id);
        }

        return droppedUpTo;
    }

    /// <summary>
    /// Under the write lock: whether <paramref name="nodeId"/> reported <paramref name="id"/> corrupt after
    /// <see cref="CorruptReportSequence"/> read <paramref name="sequence"/> (or, its record trimmed since, may have).
    /// </summary>
    public bool ReportedCorruptSince(string nodeId, ChunkId id, long sequence) =>
        _reportedCorrupt.TryGetValue(nodeId, out var reported)
        && (reported.DroppedUpTo > sequence || (reported.Last.TryGetValue(id, out var at) && at > sequence));

    /// <summary>
    /// Called under the write lock when a corrupt report removes a holder of <paramref name="id"/> (its record as the
    /// report leaves it): counted, and recorded by every <see cref="WatchCorruptReports">watch</see> whose node it lists.
    /// </summary>
    public void NoteCorruptReport(ChunkId id, ChunkRecord record)
    {
        Interlocked.Increment(ref _corruptReports);
        foreach (var watch in _corruptWatches)
        {
            if (record.Locations.Contains(watch.NodeId))
            {
                watch.Ids.Add(id);
            }
        }
    }

    /// <summary>
    /// From now on (taken under the write lock), records the chunks corrupt reports remove a holder of that still list
    /// <paramref name="nodeId"/>: a report whose body ran before is already committed, so a scan started after this sees
    /// it, and every later one is recorded. Dispose the watch to stop.
    /// </summary>
    public CorruptReportWatch WatchCorruptReports(string nodeId)
    {
        lock (_writeLock)
        {
            var watch = new CorruptReportWatch(this, nodeId);
            _corruptWatches.Add(watch);
            return watch;
        }
    }

    /// <summary>Ends a <see cref="WatchCorruptReports">watch</see>.</summary>
    internal void Unwatch(CorruptReportWatch watch)
    {
        lock (_writeLock)
        {
            _corruptWatches.Remove(watch);
        }
    }

    private readonly List<CorruptReportWatch> _corruptWatches = [];

    /// <summary>Runs <paramref name="body"/> with every writer held off (a consistent view for checks).</summary>
    public T Exclusive<T>(Func<T> body)
    {
        lock (_writeLock)
        {
            return body();
        }
    }

    public void Dispose() => _writes.Dispose();
}
