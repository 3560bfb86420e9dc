using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Segments + FASTER index. One writer thread appends records and group-commits them (one fsync for a batch);
/// the index is updated only after the fsync, so nothing unreadable after a crash is ever visible or acknowledged.
/// Recovery is <see cref="EngineRecovery"/>, checkpoints <see cref="EngineCheckpoints"/>; the partial files hold the
/// writer, reads, maintenance and shutdown.
/// </summary>
public sealed partial class ChunkEngine : IChunkEngine
{
    private readonly EngineOptions _options;
    private readonly IEngineFiles _files;
    private readonly ILogger _logger;
    private readonly EngineLayout _layout;
    private readonly string _segmentDir;
    private readonly string _quarantineDir;
    private readonly ConcurrentDictionary<int, Segment> _segments;
    private readonly ConcurrentDictionary<ChunkId, byte> _quarantined;
    private readonly object _applyLock = new();
    private readonly SemaphoreSlim _maintenance = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly ChunkIndex _index;
    private readonly SegmentLifecycle _lifecycle;
    private Segment _active = null!;
    private readonly EngineCheckpoints _checkpoints;
    private (int Segment, long Offset) _applied;
    private Task _checkpointLoop = Task.CompletedTask;
    private int _disposed;

    private ChunkEngine(EngineOptions options, ILogger logger, EngineRecovery recovered)
    {
        _options = options;
        _files = options.Files;
        _logger = logger;
        _layout = EngineLayout.Of(options);
        _segmentDir = _layout.Segments;
        _quarantineDir = _layout.Quarantine;
        _index = recovered.Index;
        _segments = recovered.Segments;
        _quarantined = recovered.Quarantined;
        _lifecycle = new SegmentLifecycle(_files, _segmentDir, options.DirectWrites, options.DirectReads, _segments, logger, failure => _stages.StopWrites(failure));
        _checkpoints = new EngineCheckpoints(_files, _layout.Positions, _index, recovered.NamedCheckpoint, logger);
        RebuiltIndex = recovered.RebuiltIndex;
        CheckpointLost = recovered.CheckpointLost;
    }

    /// <summary>
    /// Opens (or creates) the engine: recovers (<see cref="EngineRecovery"/>: the index checkpoint, the segments
    /// after it, a torn tail cut off the last segment), then starts the writer.
    /// </summary>
    public static ChunkEngine Open(EngineOptions options, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        var recovered = EngineRecovery.Run(options, logger);
        var engine = new ChunkEngine(options, logger, recovered);
        try
        {
            engine.Start(recovered);
        }
        catch
        {
            recovered.Index.Dispose();
            throw;
        }

        return engine;
    }

    private void Start(EngineRecovery recovered)
    {
        _active = recovered.Active ?? _lifecycle.Create((_segments.IsEmpty ? 0 : _segments.Keys.Max()) + 1);
        _applied = (_active.Number, _active.Length);
        _lifecycle.ReportDirectIo(_active);

        var stats = GetStats();
        EngineLog.Opened(_logger, _options.Directory, stats.ChunkCount, stats.SegmentCount, recovered.Replayed, recovered.Start.Segment, recovered.Start.Offset);

        StartWriter();
        if (_options.CheckpointInterval > TimeSpan.Zero)
        {
            _checkpointLoop = _checkpoints.RunEveryAsync(_options.CheckpointInterval, CheckpointIfMovedAsync, _stop.Token);
        }
    }

    /// <summary>True if this start rebuilt the index from every segment (no usable checkpoint).</summary>
    internal bool RebuiltIndex { get; }

    /// <summary>True if the positions file named a checkpoint that could not be recovered (crash tests).</summary>
    internal bool CheckpointLost { get; }

    /// <inheritdoc />
    public ValueTask<AppendOutcome> AppendAsync(ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlyMemory<byte> stored, CancellationToken cancellationToken) =>
        AppendAsync(id, encoding, plainLength, new System.Buffers.ReadOnlySequence<byte>(stored), cancellationToken);

    /// <inheritdoc />
    public async ValueTask<AppendOutcome> AppendAsync(ChunkId id, ChunkEncoding encoding, int plainLength, System.Buffers.ReadOnlySequence<byte> stored, CancellationToken cancellationToken)
    {
        if (stored.Length > SegmentRecord.MaxPayload)
        {
            // Written, it would be durable and acknowledged but read back as a rotten record (cut, or skipped).
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()} has {stored.Length} stored bytes; a segment record holds at most {SegmentRecord.MaxPayload}.");
        }

        // No shortcut for a chunk already held: the writer skips it, but it still waits for the next group commit
        // like a new chunk, so a put's latency does not tell whether anyone stored that content before.
        var op = new WriteOp(RecordKind.Chunk, id, encoding, plainLength, stored, null);
        var written = await EnqueueAsync(op, cancellationToken).ConfigureAwait(false);
        return written ? AppendOutcome.Stored : AppendOutcome.AlreadyPresent;
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(ChunkId id, CancellationToken cancellationToken) =>
        EnqueueAsync(new WriteOp(RecordKind.Delete, id, ChunkEncoding.Raw, 0, ReadOnlyMemory<byte>.Empty, null), cancellationToken);

    private async ValueTask<bool> EnqueueAsync(WriteOp op, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            throw new ObjectDisposedException(nameof(ChunkEngine), "The chunk engine is shut down.");
        }

        await _commit.EnqueueAsync(op, cancellationToken).ConfigureAwait(false);

        // Once queued, the write happens whatever the caller does; the caller must not free the payload early.
        return await op.Done.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// The active segment's appender (tests: which write path records took). Read it when no write is in flight: the
    /// writer thread owns it.
    /// </summary>
    internal SegmentAppender? ActiveAppender => Volatile.Read(ref _active).Appender;

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
}
