using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Segments + FASTER index. One writer thread appends records and group-commits them (one fsync for a batch);
/// the index is updated only after the fsync, so nothing unreadable after a crash is ever visible or acknowledged.
/// </summary>
public sealed partial class ChunkEngine : IChunkEngine
{
    private const string PositionsFile = "positions";

    private readonly EngineOptions _options;
    private readonly IEngineFiles _files;
    private readonly ILogger _logger;
    private readonly string _segmentDir;
    private readonly string _indexDir;
    private readonly string _quarantineDir;
    private readonly ConcurrentDictionary<int, Segment> _segments = new();
    private readonly ConcurrentDictionary<ChunkId, byte> _quarantined = new();
    private readonly Channel<WriteOp> _queue;
    private readonly object _applyLock = new();
    private readonly SemaphoreSlim _maintenance = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly ChunkIndex _index;
    private Segment _active = null!;
    private (int Segment, long Offset) _applied;

    // The checkpoint the durable positions file names (kept until a newer one is named). Maintenance lock only.
    private Guid? _namedCheckpoint;
    private Task _writer = Task.CompletedTask;
    private Task _flusher = Task.CompletedTask;
    private Task _checkpointLoop = Task.CompletedTask;
    private int _disposed;

    private ChunkEngine(EngineOptions options, ILogger logger, ChunkIndex index)
    {
        _options = options;
        _files = options.Files;
        _logger = logger;
        _segmentDir = Path.Combine(options.Directory, "segments");
        _indexDir = Path.Combine(options.Directory, "index");
        _quarantineDir = Path.Combine(options.Directory, "quarantine");
        _index = index;
        _queue = Channel.CreateBounded<WriteOp>(new BoundedChannelOptions(options.WriteQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>
    /// Opens (or creates) the engine: recovers the index checkpoint, replays the segments after it, cuts a torn
    /// tail off the last segment, and starts the writer.
    /// </summary>
    public static ChunkEngine Open(EngineOptions options, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        var files = options.Files;
        var segmentDir = Path.Combine(options.Directory, "segments");
        var indexDir = Path.Combine(options.Directory, "index");
        var fasterDir = options.IndexDirectory ?? Path.Combine(indexDir, "faster");
        files.CreateDirectory(options.Directory);
        files.CreateDirectory(segmentDir);
        files.CreateDirectory(indexDir);
        files.CreateDirectory(Path.Combine(options.Directory, "quarantine"));

        // The folders' own entries must be durable before anything in them is acknowledged.
        files.SyncDirectory(options.Directory);

        var positions = ReadPositions(files, Path.Combine(indexDir, PositionsFile));
        if (positions is null && Directory.Exists(fasterDir))
        {
            Directory.Delete(fasterDir, recursive: true);
        }

        var index = new ChunkIndex(fasterDir, options);
        (int Segment, long Offset) start = (0, 0);
        var rebuilt = positions is null;
        var checkpointLost = false;
        Guid? named = null;
        if (positions is { } p)
        {
            if (index.TryRecover(p.Token))
            {
                start = (p.Segment, p.Offset);
                named = p.Token;
            }
            else
            {
                Log.RebuildingIndex(logger, p.Token);
                rebuilt = true;
                checkpointLost = true;
                index.Dispose();
                Directory.Delete(fasterDir, recursive: true);
                index = new ChunkIndex(fasterDir, options);
            }
        }

        var engine = new ChunkEngine(options, logger, index) { RebuiltIndex = rebuilt, CheckpointLost = checkpointLost, _namedCheckpoint = named };
        try
        {
            engine.Recover(start);
        }
        catch
        {
            index.Dispose();
            throw;
        }

        return engine;
    }

    private void Recover((int Segment, long Offset) start)
    {
        var numbers = _files.ListFiles(_segmentDir, ".seg")
            .Select(f => int.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1)
            .Where(n => n > 0)
            .Order()
            .ToList();
        foreach (var number in numbers)
        {
            var path = Path.Combine(_segmentDir, Segment.FileName(number));
            var handle = _files.Open(path, FileMode.Open);
            _segments[number] = new Segment(number, path, handle, handle.Length);
        }

        long replayed = 0;
        for (var i = 0; i < numbers.Count; i++)
        {
            var segment = _segments[numbers[i]];
            if (segment.Number < start.Segment)
            {
                continue;
            }

            var from = segment.Number == start.Segment ? Math.Min(start.Offset, segment.Length) : 0;
            replayed += Replay(segment, from, isLast: i == numbers.Count - 1);
        }

        foreach (var (id, location) in _index.Snapshot())
        {
            if (_segments.TryGetValue(location.Segment, out var segment))
            {
                segment.LiveBytes += location.RecordLength;
                segment.LiveCount++;
            }
            else
            {
                Log.DanglingEntry(_logger, id.ToShortString(), location.Segment);
                _index.Delete(id);
            }
        }

        foreach (var file in _files.ListFiles(_quarantineDir, ".chunk"))
        {
            if (ChunkId.TryParse(Path.GetFileNameWithoutExtension(file), out var id) && !_index.TryGet(id, out _))
            {
                _quarantined[id] = 0;
            }
        }

        var last = numbers.Count > 0 ? _segments[numbers[^1]] : null;
        if (last is not null && last.Length < _options.SegmentMaxBytes)
        {
            last.Appender = SegmentAppender.Open(_files, last.Path, last.Length, _options.DirectWrites);
            _active = last;
        }
        else
        {
            _active = CreateSegment((last?.Number ?? 0) + 1);
        }

        _applied = (_active.Number, _active.Length);

        var stats = GetStats();
        Log.Opened(_logger, _options.Directory, stats.ChunkCount, stats.SegmentCount, replayed, start.Segment, start.Offset);

        _writer = Task.Run(WriterLoopAsync);
        _flusher = Task.Run(FlusherLoopAsync);
        if (_options.CheckpointInterval > TimeSpan.Zero)
        {
            _checkpointLoop = CheckpointLoopAsync(_stop.Token);
        }
    }

    /// <summary>Applies the records of a segment from an offset to the index; cuts a torn tail off the last one.</summary>
    private long Replay(Segment segment, long from, bool isLast)
    {
        var header = new byte[SegmentRecord.HeaderSize];
        var payload = ArrayPool<byte>.Shared.Rent(1 << 20);
        long count = 0;
        var pos = from;
        try
        {
            while (pos + SegmentRecord.HeaderSize <= segment.Length)
            {
                if (segment.Handle.Read(header, pos) != header.Length || !SegmentRecord.TryReadHeader(header, out var record))
                {
                    break;
                }

                var recordLength = SegmentRecord.HeaderSize + (long)record.StoredLength;
                if (pos + recordLength > segment.Length)
                {
                    break;
                }

                if (record.Kind == RecordKind.Chunk)
                {
                    if (payload.Length < record.StoredLength)
                    {
                        ArrayPool<byte>.Shared.Return(payload);
                        payload = ArrayPool<byte>.Shared.Rent(record.StoredLength);
                    }

                    var span = payload.AsSpan(0, record.StoredLength);
                    ReadFully(segment.Handle, span, pos + SegmentRecord.HeaderSize);
                    if (!SegmentRecord.PayloadMatches(record, span))
                    {
                        // A complete record whose payload rotted is followed by more valid records only if it
                        // was acknowledged long ago: skip it rather than cutting good records after it.
                        if (!ValidHeaderAt(segment, pos + recordLength))
                        {
                            break;
                        }

                        Log.SkippedRottenRecord(_logger, segment.Number, pos);
                        pos += recordLength;
                        continue;
                    }

                    _index.Upsert(record.Id, new ChunkLocation(segment.Number, pos, record.StoredLength, record.PlainLength, record.Encoding));
                }
                else
                {
                    _index.Delete(record.Id);
                }

                count++;
                pos += recordLength;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }

        if (pos < segment.Length && IsPadding(segment, pos))
        {
            // Zeros a direct write padded the last block with, left by a stop before they were cut off.
            segment.Handle.SetLength(pos);
            segment.Handle.Flush();
            segment.Length = pos;
        }

        if (pos < segment.Length)
        {
            if (isLast)
            {
                Log.TruncatedTail(_logger, segment.Number, pos, segment.Length - pos);
                segment.Handle.SetLength(pos);
                segment.Handle.Flush();
                segment.Length = pos;
            }
            else
            {
                Log.CorruptClosedSegment(_logger, segment.Number, pos);
            }
        }

        return count;
    }

    private static bool IsPadding(Segment segment, long pos)
    {
        var rest = segment.Length - pos;
        if (rest >= SegmentAppender.BlockSize)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[SegmentAppender.BlockSize];
        bytes = bytes[..(int)rest];
        return segment.Handle.Read(bytes, pos) == bytes.Length && !bytes.ContainsAnyExcept((byte)0);
    }

    private static bool ValidHeaderAt(Segment segment, long pos)
    {
        if (pos + SegmentRecord.HeaderSize > segment.Length)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[SegmentRecord.HeaderSize];
        return segment.Handle.Read(header, pos) == header.Length && SegmentRecord.TryReadHeader(header, out _);
    }

    private Segment CreateSegment(int number)
    {
        var path = Path.Combine(_segmentDir, Segment.FileName(number));
        var handle = _files.Open(path, FileMode.CreateNew);
        var segment = new Segment(number, path, handle, 0);
        try
        {
            // Records fsynced into a segment whose directory entry is not durable vanish with it on power loss.
            _files.SyncDirectory(_segmentDir);
            segment.Appender = SegmentAppender.Open(_files, path, 0, _options.DirectWrites);
        }
        catch
        {
            handle.Dispose();

            // Leave no half-made segment behind, so the next roll can create it again.
            TryDeleteFile(path);
            throw;
        }

        _segments[number] = segment;
        return segment;
    }

    /// <summary>Undoes <see cref="CreateSegment"/> of a segment nothing was written to.</summary>
    private void DropSegment(Segment segment)
    {
        _segments.TryRemove(segment.Number, out _);
        segment.Appender?.Dispose();
        segment.Appender = null;
        segment.Handle.Dispose();
        TryDeleteFile(segment.Path);
    }

    /// <summary>Closes a full segment's appender; its bytes are written, so a failure to cut the padding off is left to recovery.</summary>
    private void CloseFull(Segment segment, SegmentAppender appender)
    {
        try
        {
            appender.Close();
        }
        catch (IOException ex)
        {
            Log.ClosePaddingFailed(_logger, segment.Number, ex);
        }
    }

    private void TryDeleteFile(string path)
    {
        try
        {
            _files.Delete(path);
        }
        catch (IOException)
        {
            // Then CreateNew refuses the name next time and that batch fails with the I/O error.
        }
    }

    /// <inheritdoc />
    public async ValueTask<AppendOutcome> AppendAsync(ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlyMemory<byte> stored, CancellationToken cancellationToken)
    {
        // No shortcut for a chunk already held: the writer skips it, but it still waits for the next group commit
        // like a new chunk, so a put's latency does not tell whether anyone stored that content before.
        var op = new WriteOp(RecordKind.Chunk, id, encoding, plainLength, stored, null);
        var written = await EnqueueAsync(op, cancellationToken).ConfigureAwait(false);
        return written ? AppendOutcome.Stored : AppendOutcome.AlreadyPresent;
    }

    private async ValueTask<bool> EnqueueAsync(WriteOp op, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            throw new ObjectDisposedException(nameof(ChunkEngine), "The chunk engine is shut down.");
        }

        await _queue.Writer.WriteAsync(op, cancellationToken).ConfigureAwait(false);

        // Once queued, the write happens whatever the caller does; the caller must not free the payload early.
        return await op.Done.Task.ConfigureAwait(false);
    }

    /// <summary>True if this start rebuilt the index from every segment (no usable checkpoint).</summary>
    internal bool RebuiltIndex { get; private init; }

    /// <summary>True if the positions file named a checkpoint that could not be recovered (crash tests).</summary>
    internal bool CheckpointLost { get; private init; }

    /// <inheritdoc />
    public bool Contains(ChunkId id) => _index.TryGet(id, out _);

    /// <inheritdoc />
    public void Contains(ReadOnlySpan<ChunkId> ids, Span<bool> present) => _index.Contains(ids, present);

    /// <inheritdoc />
    public bool TryGetLocation(ChunkId id, out ChunkLocation location) => _index.TryGet(id, out location);

    /// <inheritdoc />
    public bool IsQuarantined(ChunkId id) => _quarantined.ContainsKey(id);

    /// <inheritdoc />
    public ValueTask<StoredChunk?> ReadAsync(ChunkId id, CancellationToken cancellationToken)
    {
        // A concurrent compaction may retire the segment between lookup and read: look up again.
        for (var attempt = 0; attempt < 4; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!_index.TryGet(id, out var location))
            {
                if (_quarantined.ContainsKey(id))
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"Chunk {id} was found corrupt and is quarantined; it will not be served. Upload it again to heal it.");
                }

                return ValueTask.FromResult<StoredChunk?>(null);
            }

            var chunk = ReadAt(id, location);
            if (chunk is not null)
            {
                return ValueTask.FromResult<StoredChunk?>(chunk);
            }
        }

        throw new DropboxException(ErrorKind.Unavailable, $"Chunk {id.ToShortString()} kept moving during compaction; retry.");
    }

    /// <summary>Reads and checks a record; null if its segment was retired meanwhile; DataLoss if it is corrupt.</summary>
    private StoredChunk? ReadAt(ChunkId id, ChunkLocation location)
    {
        if (!_segments.TryGetValue(location.Segment, out var segment) || !segment.TryAcquire())
        {
            return null;
        }

        var length = SegmentRecord.HeaderSize + location.StoredLength;
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var ok = false;
        try
        {
            var read = ReadFully(segment.Handle, buffer.AsSpan(0, length), location.Offset);
            if (read != length
                || !SegmentRecord.TryReadHeader(buffer, out var header)
                || header.Kind != RecordKind.Chunk
                || header.Id != id
                || !SegmentRecord.PayloadMatches(header, buffer.AsSpan(SegmentRecord.HeaderSize, location.StoredLength)))
            {
                throw new DropboxException(ErrorKind.DataLoss, $"Chunk {id} is corrupt on disk ({location}): its checksum does not match, so it is not served. Run scrub to quarantine it and upload it again.");
            }

            ok = true;
            return new StoredChunk(buffer, SegmentRecord.HeaderSize, location.StoredLength, location.Encoding, location.PlainLength);
        }
        finally
        {
            segment.Release();
            if (!ok)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static int ReadFully(IEngineFile handle, Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var n = handle.Read(destination[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(ChunkId id, CancellationToken cancellationToken) =>
        EnqueueAsync(new WriteOp(RecordKind.Delete, id, ChunkEncoding.Raw, 0, ReadOnlyMemory<byte>.Empty, null), cancellationToken);

    /// <inheritdoc />
    public EngineStats GetStats()
    {
        long count = 0, live = 0, total = 0;
        foreach (var segment in _segments.Values)
        {
            count += Interlocked.Read(ref segment.LiveCount);
            live += Interlocked.Read(ref segment.LiveBytes);
            total += segment.Length;
        }

        return new EngineStats(count, live, Math.Max(0, total - live), _segments.Count, _quarantined.Count);
    }

    /// <inheritdoc />
    public async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CheckpointCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _maintenance.Release();
        }
    }

    private async Task CheckpointCoreAsync(CancellationToken cancellationToken)
    {
        // Every record before 'applied' is in the index before the checkpoint starts; records after it may or
        // may not be, and replaying them again is harmless (upsert/delete are idempotent and in order).
        (int Segment, long Offset) applied;
        lock (_applyLock)
        {
            applied = _applied;
        }

        var token = await _index.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            WritePositions(token, applied);
        }
        catch
        {
            // The positions file may name the old checkpoint or (if only the directory fsync failed) the new
            // one: keep both, purge every older one so failures do not pile checkpoints up without bound.
            var keep = new HashSet<Guid> { token };
            if (_namedCheckpoint is { } named)
            {
                keep.Add(named);
            }

            try
            {
                // What the file names now, if its rename landed but the directory fsync did not.
                if (ReadPositions(_files, Path.Combine(_indexDir, PositionsFile)) is { } current)
                {
                    keep.Add(current.Token);
                }

                _index.PurgeCheckpointsExcept(keep);
            }
            catch (IOException)
            {
                // The positions failure is the error to report; the next checkpoint purges again.
            }

            throw;
        }

        _namedCheckpoint = token;
        _index.PurgeCheckpointsExcept([token]);
    }

    private async Task CheckpointLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.CheckpointInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await CheckpointAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.CheckpointFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void WritePositions(Guid token, (int Segment, long Offset) applied)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{token:D}\n{applied.Segment}\n{applied.Offset}\n");
        ReplaceFile(Path.Combine(_indexDir, PositionsFile), System.Text.Encoding.ASCII.GetBytes(text));
    }

    /// <summary>Temp file, fsync, rename over the target, fsync the directory: the old or the new bytes survive.</summary>
    private void ReplaceFile(string path, ReadOnlySpan<byte> bytes)
    {
        var temp = path + ".tmp";
        using (var file = _files.Open(temp, FileMode.Create))
        {
            file.Write(bytes, 0);
            file.Flush();
        }

        _files.Move(temp, path);
        _files.SyncDirectory(Path.GetDirectoryName(path)!);
    }

    private static (Guid Token, int Segment, long Offset)? ReadPositions(IEngineFiles files, string path)
    {
        if (!files.FileExists(path))
        {
            return null;
        }

        string[] lines;
        using (var file = files.Open(path, FileMode.Open))
        {
            var bytes = new byte[(int)Math.Min(file.Length, 4096)];
            var n = ReadFully(file, bytes, 0);
            lines = System.Text.Encoding.ASCII.GetString(bytes, 0, n).Split('\n');
        }

        if (lines.Length >= 3
            && Guid.TryParse(lines[0], out var token)
            && int.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var segment)
            && long.TryParse(lines[2], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            return (token, segment, offset);
        }

        return null;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopBackgroundWorkAsync().ConfigureAwait(false);
        await _maintenance.WaitAsync().ConfigureAwait(false);
        try
        {
            await CheckpointCoreAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.CheckpointFailed(_logger, ex);
        }
        finally
        {
            _index.Dispose();
            foreach (var segment in _segments.Values)
            {
                segment.Appender?.Close();
                segment.Appender = null;
                segment.Retire();
            }

            _maintenance.Release();
            _stop.Dispose();
        }
    }

    /// <summary>Ends the queue and waits for the writer, the flusher and the checkpoint loop to finish.</summary>
    private async Task StopBackgroundWorkAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        await _flusher.ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await _checkpointLoop.ConfigureAwait(false);
    }

    /// <summary>
    /// Stops as a process killed at this instant would (crash tests): no checkpoint, no positions file, nothing
    /// flushed; queued writes fail. Call only with no maintenance operation in flight.
    /// </summary>
    internal async Task AbandonAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopBackgroundWorkAsync().ConfigureAwait(false);
        _index.Dispose();
        foreach (var segment in _segments.Values)
        {
            segment.Appender?.Dispose();
            segment.Appender = null;
            segment.Retire();
        }

        _stop.Dispose();
    }
}
