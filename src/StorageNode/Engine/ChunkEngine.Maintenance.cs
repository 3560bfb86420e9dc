using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.StorageNode.Engine;

public sealed partial class ChunkEngine
{
    /// <inheritdoc />
    public async Task<ScrubResult> ScrubAsync(Func<ChunkId, StoredChunk, bool> verify, CancellationToken cancellationToken)
    {
        await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
        var held = true;
        try
        {
            long checkedCount = 0;
            var corrupt = new List<ChunkId>();
            foreach (var (id, location) in _index.Snapshot())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (Volatile.Read(ref _segmentHoldsWaiting) > 0)
                {
                    // A backup's snapshot waits: it goes first (the semaphore serves waiters in order), the scrub goes on
                    // after it. A location the snapshot's end let compaction retire reads as gone and is skipped.
                    held = false;
                    _maintenance.Release();
                    await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
                    held = true;
                }

                bool ok;
                StoredChunk? chunk = null;
                try
                {
                    chunk = ReadAt(id, location);
                    if (chunk is null)
                    {
                        continue;
                    }

                    ok = verify(id, chunk);
                }
                catch (DropboxException ex) when (ex.Kind == ErrorKind.DataLoss)
                {
                    ok = false;
                }
                finally
                {
                    chunk?.Dispose();
                }

                checkedCount++;
                if (!ok)
                {
                    await QuarantineAsync(id, location, cancellationToken).ConfigureAwait(false);
                    corrupt.Add(id);
                }
            }

            return new ScrubResult(checkedCount, corrupt);
        }
        finally
        {
            if (held)
            {
                _maintenance.Release();
            }
        }
    }

    /// <inheritdoc />
    public async Task<bool> QuarantineIfCorruptAsync(ChunkId id, Func<ChunkId, StoredChunk, bool> verify, CancellationToken cancellationToken)
    {
        try
        {
            return await RecheckAndQuarantineAsync(id, verify, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Best effort (a full disk, EIO on the re-read, shutdown): the read keeps its own error and fails over; the scrub
            // finds the chunk again.
            EngineLog.ReadQuarantineFailed(_logger, id.ToString(), e);
            return false;
        }
    }

    private async Task<bool> RecheckAndQuarantineAsync(ChunkId id, Func<ChunkId, StoredChunk, bool> verify, CancellationToken cancellationToken)
    {
        if (!_index.TryGet(id, out var location))
        {
            return false;
        }

        bool ok;
        StoredChunk? chunk = null;
        try
        {
            chunk = ReadAt(id, location);
            if (chunk is null)
            {
                return false; // moved by compaction meanwhile: the next read (or scrub) checks the new copy
            }

            ok = verify(id, chunk);
        }
        catch (DropboxException ex) when (ex.Kind == ErrorKind.DataLoss)
        {
            ok = false;
        }
        finally
        {
            chunk?.Dispose();
        }

        if (ok)
        {
            return false;
        }

        // Conditional on the location read: a scrub that quarantined it first, or a put that replaced it, wins.
        return await QuarantineAsync(id, location, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> QuarantineAsync(ChunkId id, ChunkLocation location, CancellationToken cancellationToken)
    {
        EngineLog.Quarantined(_logger, id.ToString(), location.ToString());

        // Keep the bad bytes for a post-mortem, then take the chunk out of service durably.
        if (_segments.TryGetValue(location.Segment, out var segment) && segment.TryAcquire())
        {
            try
            {
                var bytes = new byte[location.RecordLength];
                var n = segment.Handle.ReadFully(bytes, location.Offset);
                using var file = _files.Open(Path.Combine(_quarantineDir, id + ".chunk"), FileMode.Create);
                file.Write(bytes.AsSpan(0, n), 0);
                file.Flush();
            }
            finally
            {
                segment.Release();
            }

            _files.SyncDirectory(_quarantineDir);
        }

        var op = new WriteOp(RecordKind.Quarantine, id, ChunkEncoding.Raw, 0, ReadOnlyMemory<byte>.Empty, location);
        if (await EnqueueAsync(op, cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        // Skipped (a put, delete or relocation landed first): no post-mortem copy, or a restart would mark the id quarantined.
        _files.Delete(Path.Combine(_quarantineDir, id + ".chunk"));
        return false;
    }

    /// <inheritdoc />
    public async Task<int> CompactAsync(CancellationToken cancellationToken)
    {
        await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Only segments wholly before the last published write: their records are all in the index.
            int appliedSegment;
            lock (_applyLock)
            {
                appliedSegment = _applied.Segment;
            }

            var candidates = _segments.Values
                .Where(s => s.Number < appliedSegment && s.Length > 0 && (s.Length - Interlocked.Read(ref s.LiveBytes)) >= _options.CompactionDeadFraction * s.Length)
                .OrderBy(s => s.Number)
                .ToList();
            if (candidates.Count == 0)
            {
                return 0;
            }

            var numbers = candidates.Select(s => s.Number).ToHashSet();
            var live = _index.Snapshot().Where(e => numbers.Contains(e.Value.Segment)).ToList();
            var moved = new Dictionary<int, long>();
            foreach (var (id, location) in live)
            {
                cancellationToken.ThrowIfCancellationRequested();
                StoredChunk? chunk;
                try
                {
                    chunk = ReadAt(id, location);
                }
                catch (DropboxException ex) when (ex.Kind == ErrorKind.DataLoss)
                {
                    await QuarantineAsync(id, location, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (chunk is null)
                {
                    continue;
                }

                using (chunk)
                {
                    // Relocation is a write like any other: the index flips to the copy only once it is durable,
                    // and only if nothing changed the chunk meanwhile.
                    var op = new WriteOp(RecordKind.Chunk, id, chunk.Encoding, chunk.PlainLength, chunk.Data, location);
                    if (await EnqueueAsync(op, cancellationToken).ConfigureAwait(false))
                    {
                        moved[location.Segment] = moved.GetValueOrDefault(location.Segment) + 1;
                    }
                }
            }

            // The index must no longer need the old segments even after a crash before they are deleted.
            await CheckpointCoreAsync(cancellationToken).ConfigureAwait(false);

            var compacted = 0;
            foreach (var segment in candidates)
            {
                if (Interlocked.Read(ref segment.LiveCount) != 0)
                {
                    continue;
                }

                _segments.TryRemove(segment.Number, out _);
                _files.Delete(segment.Path);
                segment.Retire();
                compacted++;
                EngineLog.Compacted(_logger, segment.Number, moved.GetValueOrDefault(segment.Number), segment.Length);
            }

            _files.SyncDirectory(_segmentDir);
            return compacted;
        }
        finally
        {
            _maintenance.Release();
        }
    }
}
