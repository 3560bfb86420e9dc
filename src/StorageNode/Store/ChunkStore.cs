using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.Shared.Compression;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// The storage node's domain: verifies chunk bytes against their id before anything is stored, deduplicates,
/// stores through the engine, and records a "chunk stored" event once the bytes are durable.
/// Knows nothing of tokens or the wire.
/// </summary>
public sealed class ChunkStore
{
    private readonly IChunkEngine _engine;
    private readonly EventOutbox _outbox;
    private readonly ConcurrentDictionary<ChunkId, int> _inFlight = new();
    private readonly StoreMetrics? _metrics;
    private readonly SemaphoreSlim _quarantinedSignal = new(0, 1);
    private readonly SemaphoreSlim _settledSignal = new(0, 1);

    /// <summary>Wires the store over an engine and an outbox; <paramref name="metrics"/> (optional) counts puts and reads.</summary>
    public ChunkStore(IChunkEngine engine, EventOutbox outbox, NodeId nodeId, int maxChunkBytes = StoreLimits.DefaultMaxChunkBytes, StoreMetrics? metrics = null, SpaceGuard? space = null)
    {
        Space = space;
        _engine = engine;
        _outbox = outbox;
        _metrics = metrics;
        NodeId = nodeId;
        MaxChunkBytes = Math.Min(maxChunkBytes, StoreLimits.AbsoluteMaxChunkBytes);
    }

    /// <summary>This node's id.</summary>
    public NodeId NodeId { get; }

    /// <summary>What keeps the data disk from filling (null: nothing refuses puts early; a write that finds no space is
    /// still answered RESOURCE_EXHAUSTED).</summary>
    public SpaceGuard? Space { get; }

    /// <summary>Largest plain chunk accepted.</summary>
    public int MaxChunkBytes { get; }

    /// <summary>The engine (for maintenance).</summary>
    public IChunkEngine Engine => _engine;

    /// <summary>The outbox (for the delivery agent and stats).</summary>
    public EventOutbox Outbox => _outbox;

    /// <summary>
    /// Checks a chunk header before its bytes arrive: sizes and encoding. Throws InvalidArgument naming the problem.
    /// </summary>
    public void ValidateHeader(ChunkId id, ChunkEncoding encoding, long plainSize, long storedSize)
    {
        if (encoding is not (ChunkEncoding.Raw or ChunkEncoding.Lz4))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Unknown chunk encoding {(int)encoding} for chunk {id.ToShortString()}; use RAW or LZ4.");
        }

        if (plainSize > MaxChunkBytes)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()} is {plainSize} bytes; this node accepts chunks of at most {MaxChunkBytes} bytes. Cut smaller chunks.");
        }

        if (encoding == ChunkEncoding.Raw && storedSize != plainSize)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()} is RAW but stored_size {storedSize} differs from plain_size {plainSize}.");
        }

        if (encoding == ChunkEncoding.Lz4 && (storedSize > Lz4ChunkCodec.MaxEncodedLength((int)plainSize) || (storedSize == 0 && plainSize > 0)))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()} claims {storedSize} LZ4 bytes for {plainSize} plain bytes, which no LZ4 block can be.");
        }
    }

    /// <summary>
    /// Verifies and stores a chunk (a chunk already held is not written again). A hash mismatch is refused with
    /// DataLoss and nothing is stored. Completes once durable and the event is queued. The result is the same whether
    /// or not the chunk was held before, so no caller can tell what other users store.
    /// </summary>
    public ValueTask PutAsync(ChunkId id, ChunkEncoding encoding, int plainSize, ReadOnlyMemory<byte> stored, string ns, CancellationToken cancellationToken) =>
        PutAsync(id, encoding, plainSize, new ReadOnlySequence<byte>(stored), ns, cancellationToken);

    /// <summary>
    /// <see cref="PutAsync(ChunkId, ChunkEncoding, int, ReadOnlyMemory{byte}, string, CancellationToken)"/> for stored bytes in
    /// pieces (an HTTP body as the connection's pipe holds it): hashed piece by piece and copied by the engine straight
    /// into its segment, with no copy in between. The caller keeps them unchanged until this completes; nothing here
    /// holds a reference to them afterwards.
    /// </summary>
    public async ValueTask PutAsync(ChunkId id, ChunkEncoding encoding, int plainSize, ReadOnlySequence<byte> stored, string ns, CancellationToken cancellationToken)
    {
        _metrics?.BytesIn.Inc(stored.Length);
        try
        {
            ValidateHeader(id, encoding, plainSize, stored.Length);
            Verify(id, encoding, plainSize, stored);
        }
        catch (DropboxException)
        {
            _metrics?.PutsRefused.Inc();
            throw;
        }

        if (Space is { IsFull: true })
        {
            // Held chunks too: "stored" for those and "full" for new ones would tell what others store.
            _metrics?.PutsRefusedFull.Inc();
            throw Space.Full(NodeId);
        }

        // The event is recorded alongside the write rather than after it, so the two fsyncs overlap instead of
        // adding up. That is safe because the outbox hands out an event only once the engine holds the chunk,
        // and the engine holds only what is durable.
        _inFlight.AddOrUpdate(id, 1, (_, n) => n + 1);
        try
        {
            var append = _engine.AppendAsync(id, encoding, plainSize, stored, cancellationToken).AsTask();

            // Once queued, the write is waited for whatever the outbox does: an outbox that refuses the event at once
            // (disposed, or stopped after a callback threw) must not let this return while the engine still reads the
            // caller's bytes, which the HTTP endpoint hands back to Kestrel as soon as this returns.
            Task record;
            try
            {
                record = _outbox.AppendAsync(new StoredChunkEvent(id, plainSize, encoding, (int)stored.Length, ns), cancellationToken);
            }
            catch (Exception e)
            {
                record = Task.FromException(e);
            }

            await Task.WhenAll(append, record).ConfigureAwait(false);
            (append.Result == AppendOutcome.Stored ? _metrics?.ChunksStored : _metrics?.ChunksDeduplicated)?.Inc();
        }
        catch (Exception ex) when (SpaceGuard.IsOutOfSpace(ex))
        {
            // The engine rolled the batch back: nothing half-written stays. Full from now on, until space returns.
            _metrics?.PutsRefusedFull.Inc();
            Space?.ReportOutOfSpace();
            throw Space?.Full(NodeId) ?? new DropboxException(ErrorKind.ResourceExhausted, $"Storage node {NodeId} is full: no space left on its data disk. The chunk was not stored and nothing stored before is affected.");
        }
        finally
        {
            if (_inFlight.AddOrUpdate(id, 0, (_, n) => n - 1) <= 0)
            {
                _inFlight.TryRemove(new KeyValuePair<ChunkId, int>(id, 0));
            }

            Signal(_settledSignal);
        }
    }

    /// <summary>
    /// Waits until a put ends (stored or failed), or <paramref name="max"/> passes: the reporter, held back by an event
    /// whose put is still being made durable (<see cref="TakeDeliverable"/>), looks again as soon as any put ends. A put
    /// that ended before the wait began may end it at once: the reporter then looks again and waits anew.
    /// </summary>
    /// <returns>True when a put's end woke it; false when <paramref name="max"/> passed.</returns>
    public Task<bool> WaitForPutSettledAsync(TimeSpan max, CancellationToken cancellationToken) => _settledSignal.WaitAsync(max, cancellationToken);

    /// <summary>
    /// Picks the events ready to report, from the front of <paramref name="events"/>: those whose chunk is held
    /// (durable), completed with what rests on disk (a deduplicated put may have sent another encoding). An event
    /// whose put is still running stops the pick (it is reported later); one whose chunk is neither held nor being
    /// put (a crash between the two fsyncs, a failed write, a delete since) is dropped.
    /// </summary>
    /// <returns>How many events from the front were consumed (reported or dropped).</returns>
    public int TakeDeliverable(IReadOnlyList<StoredChunkEvent> events, List<StoredChunkEvent> deliverable)
    {
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];

            // In-flight first: a put that finishes between the two checks is then seen as held.
            if (_inFlight.ContainsKey(e.Id))
            {
                return i;
            }

            if (_engine.TryGetLocation(e.Id, out var location))
            {
                deliverable.Add(e with { Encoding = location.Encoding, PlainSize = location.PlainLength, StoredSize = location.StoredLength });
            }
        }

        return events.Count;
    }

    /// <summary>Re-hashes the plain bytes (decoding LZ4 first); DataLoss if they are not the chunk named.</summary>
    public static void Verify(ChunkId id, ChunkEncoding encoding, int plainSize, in ReadOnlySequence<byte> stored)
    {
        if (stored.IsSingleSegment)
        {
            Verify(id, encoding, plainSize, stored.FirstSpan);
            return;
        }

        if (encoding == ChunkEncoding.Raw)
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var piece in stored)
            {
                sha.AppendData(piece.Span);
            }

            Span<byte> hash = stackalloc byte[ChunkId.Size];
            sha.GetHashAndReset(hash);
            CheckHash(id, hash);
            return;
        }

        // The LZ4 decoder takes its input in one piece: the (compressed) body is gathered first.
        var whole = ArrayPool<byte>.Shared.Rent(Math.Max(1, (int)stored.Length));
        try
        {
            stored.CopyTo(whole);
            Verify(id, encoding, plainSize, whole.AsSpan(0, (int)stored.Length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(whole);
        }
    }

    /// <summary>Re-hashes the plain bytes (decoding LZ4 first); DataLoss if they are not the chunk named.</summary>
    public static void Verify(ChunkId id, ChunkEncoding encoding, int plainSize, ReadOnlySpan<byte> stored)
    {
        Span<byte> hash = stackalloc byte[ChunkId.Size];
        if (encoding == ChunkEncoding.Raw)
        {
            SHA256.HashData(stored, hash);
        }
        else
        {
            var plain = ArrayPool<byte>.Shared.Rent(Math.Max(plainSize, 1));
            try
            {
                ChunkCodec.Decode(encoding, stored, plain.AsSpan(0, plainSize));
                SHA256.HashData(plain.AsSpan(0, plainSize), hash);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(plain);
            }
        }

        CheckHash(id, hash);
    }

    private static void CheckHash(ChunkId id, ReadOnlySpan<byte> hash)
    {
        var actual = new ChunkId(hash);
        if (actual != id)
        {
            throw new DropboxException(ErrorKind.DataLoss, $"Hash mismatch: the bytes sent for chunk {id} hash to {actual}; nothing was stored. Re-read the source and send the chunk again.");
        }
    }

    /// <summary>True if <paramref name="chunk"/>'s bytes are the chunk named (scrub).</summary>
    public static bool IsIntact(ChunkId id, StoredChunk chunk)
    {
        try
        {
            Verify(id, chunk.Encoding, chunk.PlainLength, chunk.Data.Span);
            return true;
        }
        catch (DropboxException)
        {
            return false;
        }
    }

    /// <summary>Reads a chunk as stored; NotFound if it is not held; DataLoss if corrupt or quarantined.</summary>
    public async ValueTask<StoredChunk> ReadAsync(ChunkId id, CancellationToken cancellationToken)
    {
        // A record that fails its checksum here is refused (DataLoss) but not quarantined: a header or newer-format failure
        // may hold a payload that still hashes to its id, so only the scrub (or a push or link read whose bytes do not
        // hash to the id) takes it out of service.
        var chunk = await _engine.ReadAsync(id, cancellationToken).ConfigureAwait(false);
        _metrics?.BytesOut.Inc(chunk?.Data.Length ?? 0);
        return chunk ?? throw new DropboxException(ErrorKind.NotFound, $"Chunk {id} is not stored on node {NodeId}; ask the metadata node where it is.");
    }

    /// <summary>Batch existence check.</summary>
    public void Has(ReadOnlySpan<ChunkId> ids, Span<bool> present) => _engine.Contains(ids, present);

    /// <summary>Deletes chunks (GC); returns how many were held.</summary>
    public async ValueTask<int> DeleteAsync(IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        // Queue them all at once so one group commit covers the whole call.
        var deletes = new Task<bool>[ids.Count];
        for (var i = 0; i < deletes.Length; i++)
        {
            deletes[i] = _engine.DeleteAsync(ids[i], cancellationToken).AsTask();
        }

        var results = await Task.WhenAll(deletes).ConfigureAwait(false);
        return results.Count(deleted => deleted);
    }

    /// <summary>
    /// Re-hashes every stored chunk, quarantining corrupt ones; when it finds any, wakes whoever reports them to the
    /// metadata node (<see cref="WaitForQuarantinedAsync"/>), so another replica's copy replaces them soon.
    /// </summary>
    public async Task<ScrubResult> ScrubAsync(CancellationToken cancellationToken)
    {
        var result = await _engine.ScrubAsync(IsIntact, cancellationToken).ConfigureAwait(false);
        if (result.Corrupt.Count > 0)
        {
            Signal(_quarantinedSignal);
        }

        return result;
    }

    /// <summary>
    /// A read found <paramref name="id"/>'s bytes not hashing to its id: re-checked, quarantined if corrupt (best effort:
    /// a failure to quarantine is logged and leaves the chunk to the scrub), and the reporter woken (<see cref="WaitForQuarantinedAsync"/>), so the metadata node drops
    /// this copy and re-replication brings a good one back. True if it was quarantined now.
    /// </summary>
    public async Task<bool> QuarantineIfCorruptAsync(ChunkId id, CancellationToken cancellationToken)
    {
        if (!await _engine.QuarantineIfCorruptAsync(id, IsIntact, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        Signal(_quarantinedSignal);
        return true;
    }

    /// <summary>Waits until a scrub quarantines chunks, or <paramref name="max"/> passes (whichever is first).</summary>
    public Task WaitForQuarantinedAsync(TimeSpan max, CancellationToken cancellationToken) => _quarantinedSignal.WaitAsync(max, cancellationToken);

    /// <summary>
    /// Wakes the one waiter of <paramref name="signal"/>, or the next one: a signal given twice before a wait counts once.
    /// Looks before it releases: the settled signal is given at the end of every put and mostly nobody waits, so
    /// releasing blindly threw (and caught) an exception on almost every put.
    /// </summary>
    private static void Signal(SemaphoreSlim signal)
    {
        if (signal.CurrentCount > 0)
        {
            return; // already signalled: its waiter has not woken since
        }

        try
        {
            signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Signalled by another in between.
        }
    }

    /// <summary>Chunks quarantined as corrupt and not stored again since (what the node reports to the metadata node).</summary>
    public IReadOnlyList<ChunkId> QuarantinedIds() => _engine.QuarantinedIds();

    /// <summary>
    /// Queues a fresh "stored" event for each of <paramref name="ids"/> held here and not quarantined: a chunk stored
    /// again while its corrupt report was on the way, which the report may have made the metadata node stop listing.
    /// </summary>
    /// <returns>How many events were queued.</returns>
    public async Task<int> AnnounceHeldAgainAsync(IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        var queued = 0;
        foreach (var id in ids)
        {
            if (!_engine.IsQuarantined(id) && _engine.TryGetLocation(id, out var location))
            {
                await Outbox.AppendAsync(new StoredChunkEvent(id, location.PlainLength, location.Encoding, location.StoredLength, string.Empty), cancellationToken).ConfigureAwait(false);
                queued++;
            }
        }

        return queued;
    }

    /// <summary>Rewrites mostly dead segments.</summary>
    public Task<int> CompactAsync(CancellationToken cancellationToken) => _engine.CompactAsync(cancellationToken);
}
