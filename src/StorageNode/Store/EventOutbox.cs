using Dropbox.Shared.IO;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// A durable queue of "chunk stored" events for the metadata node: a <see cref="RecordLog{T}"/> of events, appended
/// through a <see cref="GroupCommit{TItem, TBatch}"/> (one fsync for many), and a delivered mark. Delivery is
/// at-least-once: the mark moves only after the metadata node accepted a batch. Survives restarts; a torn tail
/// record is cut (it was never acknowledged). Opening is recovery, done where the engine's is
/// (<see cref="EngineRecovery.RecoverMarkedLog"/>): an outbox written by older builds is upgraded on open.
/// </summary>
public sealed class EventOutbox : IAsyncDisposable
{
    private const long CompactAbove = 1L << 20;

    /// <summary>
    /// A delivered mark is written at most this often (and when the outbox is closed): each write replaces the mark's
    /// file (a new file and a rename), and one per delivery was 2-3% of the appliance's CPU over a 1 GiB upload. A mark
    /// not written yet only makes a restart deliver those events again, which the metadata node ignores (and its reporter
    /// drops events of chunks no longer held). The marks were never synced, so a power cut could always lose them; now a
    /// killed or crashed process loses those not written too: the events delivered since the last mark written come again.
    /// A mark left behind after a burst is written once due when the reporter next finds nothing to send (it looks at least
    /// every 5 s), so it lags by seconds, not until the next delivery: replayed much later, an old event would renew its
    /// account's claim on a chunk it gave up, which only someone else's copy still backs (review s56).
    /// </summary>
    internal static readonly TimeSpan DefaultMarkInterval = TimeSpan.FromSeconds(1);

    private readonly IEngineFiles _files;
    private readonly string _deliveredPath;
    private readonly RecordLog<StoredChunkEvent> _log;
    private readonly object _lock = new();
    private readonly GroupCommit<Pending, List<Pending>> _commit;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly List<(StoredChunkEvent Event, long End)> _unsent = [];
    private readonly ILogger _logger;
    private readonly TimeSpan _markInterval;
    private readonly TimeProvider _time;
    private long _delivered;
    private long _pending;
    private long? _markWrittenAt;
    private bool _markBehind;

    /// <summary>Opens (or creates) the outbox in <paramref name="directory"/> on the real file system.</summary>
    public EventOutbox(string directory, ILogger? logger = null)
        : this(directory, DiskFiles.Instance, logger)
    {
    }

    /// <summary>Opens (or creates) the outbox in <paramref name="directory"/> of <paramref name="files"/>.</summary>
    public EventOutbox(string directory, IEngineFiles files, ILogger? logger = null)
        : this(directory, files, DefaultMarkInterval, logger)
    {
    }

    /// <summary>
    /// As <see cref="EventOutbox(string, IEngineFiles, ILogger?)"/>, writing the delivered mark at most every
    /// <paramref name="markInterval"/> as <paramref name="time"/> tells it (tests).
    /// </summary>
    internal EventOutbox(string directory, IEngineFiles files, TimeSpan markInterval, ILogger? logger = null, TimeProvider? time = null)
    {
        _files = files;
        _logger = logger ?? NullLogger.Instance;
        _markInterval = markInterval;
        _time = time ?? TimeProvider.System;
        var recovered = EngineRecovery.RecoverMarkedLog(
            files,
            directory,
            "events.log",
            "delivered",
            OutboxCodecs.Event.Instance,
            OutboxCodecs.Delivered.Instance,
            mark => LegacyOutbox.ReadDelivered(files, mark),
            (log, mark) => LegacyOutbox.TryUpgrade(files, log, mark),
            _logger);
        _log = recovered.Log;
        _deliveredPath = recovered.MarkPath;
        _delivered = recovered.Mark;
        _pending = recovered.Pending;
        _commit = new GroupCommit<Pending, List<Pending>>(new Stages(this), new GroupCommitOptions { MaxItems = 256 });
    }

    /// <summary>Events not yet accepted by the metadata node.</summary>
    public long PendingCount => Interlocked.Read(ref _pending);

    /// <summary>Records an event durably; completes once it is on disk.</summary>
    public Task AppendAsync(StoredChunkEvent chunkEvent, CancellationToken cancellationToken)
    {
        var item = new Pending(chunkEvent);
        if (!_commit.TryEnqueue(item))
        {
            throw _commit.Failure is { } failure
                ? new IOException($"The event outbox stopped taking events: {failure.Message}", failure)
                : new ObjectDisposedException(nameof(EventOutbox));
        }

        return item.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Waits until there may be something to deliver, or the timeout passes.</summary>
    public Task<bool> WaitForEventsAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        PendingCount > 0 ? Task.FromResult(true) : _wake.WaitAsync(timeout, cancellationToken);

    /// <summary>
    /// Up to <paramref name="max"/> undelivered events, each with the position just after it. Each intact event is read
    /// from the log once: those read and not yet delivered are kept (at most the largest <paramref name="max"/> asked
    /// for), and the log is read on from the last of them. The reporter asks again whenever a put ends while the oldest
    /// event's put is still running; reading the same 500 events from the file each time (frames, checksums, decoding)
    /// was 8-10% of the appliance's samples under a profiler over 10,000 small files.
    /// </summary>
    public IReadOnlyList<(StoredChunkEvent Event, long End)> ReadPending(int max)
    {
        lock (_lock)
        {
            if (_unsent.Count < max)
            {
                // On from the last event kept, or from the delivered mark when none is.
                _unsent.AddRange(_log.Read(_unsent.Count > 0 ? _unsent[^1].End : _delivered, max - _unsent.Count));
            }

            if (_unsent.Count == 0)
            {
                // Nothing to send: the time to write a mark left behind, once due.
                WriteMarkIfDue();
            }

            return _unsent.GetRange(0, Math.Clamp(max, 0, _unsent.Count));
        }
    }

    /// <summary>
    /// Marks the events up to <paramref name="end"/> delivered: an end <see cref="ReadPending"/> handed out, of an event
    /// not delivered yet. Any other end (a late answer for events already delivered, one from before the log was emptied,
    /// which would fall among the events appended since) changes nothing. The mark on disk may lag behind (see
    /// <see cref="DefaultMarkInterval"/>); this outbox hands out nothing up to <paramref name="end"/> again.
    /// </summary>
    public void MarkDelivered(long end)
    {
        lock (_lock)
        {
            var done = _unsent.FindIndex(e => e.End == end) + 1;
            if (done == 0)
            {
                return;
            }

            _delivered = end;
            Interlocked.Add(ref _pending, -done);
            _unsent.RemoveRange(0, done);

            // Behind from here until a mark is written: a reset that fails below (the log kept) still has this end
            // written at the close, or the next due mark (review s56: it returned before the flag was set).
            _markBehind = true;

            // Length, not the durable length: nothing may be appended and not yet synced when the log is emptied.
            if (_delivered == _log.Length && _log.Length > CompactAbove)
            {
                // The mark 0 first, durably, then the log emptied: a failure or crash between the two only re-delivers
                // events, which the metadata node ignores. Emptied first, a mark write that failed left the old end on
                // disk, and once the new log grew past it a restart took it as valid and skipped every event before it.
                RecordFile.Replace(_files, _deliveredPath, 0L, OutboxCodecs.Delivered.Instance, durable: true);
                _markBehind = false;
                _log.Truncate();
                _delivered = 0;
                _unsent.Clear();
                return;
            }

            WriteMarkIfDue();
        }
    }

    /// <summary>Writes the mark (under the lock) if it is behind and none was written for a mark interval.</summary>
    private void WriteMarkIfDue()
    {
        if (_markBehind && (_markWrittenAt is not { } writtenAt || _time.GetElapsedTime(writtenAt) >= _markInterval))
        {
            WriteMark();
        }
    }

    /// <summary>
    /// Writes the delivered mark as it is now (under the lock). Losing a mark only re-delivers events, which the metadata
    /// node ignores; a mark that is lost or torn fails its checksum and reads as 0. Only the reset is made durable: an
    /// old mark past the new, short log's end would read as 0 too, but one within it would skip events.
    /// </summary>
    private void WriteMark()
    {
        // Timed from the attempt: a mark that cannot be written (a full disk) is tried again a mark interval later, not
        // at every delivery.
        _markWrittenAt = _time.GetTimestamp();
        RecordFile.Replace(_files, _deliveredPath, _delivered, OutboxCodecs.Delivered.Instance, durable: false);
        _markBehind = false;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _commit.CompleteAsync().ConfigureAwait(false);
        lock (_lock)
        {
            if (_markBehind)
            {
                try
                {
                    WriteMark();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Closing goes on: the events past the mark on disk are delivered again after the restart.
                    EngineLog.LogOutboxMarkNotWritten(_logger, _deliveredPath, ex.Message);
                }
            }
        }

        _log.Dispose();
        _wake.Dispose();
    }

    private sealed class Pending(StoredChunkEvent chunkEvent)
    {
        public StoredChunkEvent Event { get; } = chunkEvent;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Stages(EventOutbox outbox) : IGroupCommitStages<Pending, List<Pending>>
    {
        public List<Pending> Write(IReadOnlyList<Pending> items)
        {
            lock (outbox._lock)
            {
                outbox._log.Append(items.Select(i => i.Event).ToList());
            }

            return [.. items];
        }

        public void Sync(IReadOnlyList<List<Pending>> batches)
        {
            lock (outbox._lock)
            {
                try
                {
                    outbox._log.Sync();
                }
                catch
                {
                    // Its callers hear of the failure: none of those events may surface later.
                    outbox._log.Rollback();
                    throw;
                }

                Interlocked.Add(ref outbox._pending, batches.Sum(b => b.Count));
            }

            outbox._wake.Release();
        }

        public void Complete(List<Pending> batch, Exception? failure)
        {
            foreach (var item in batch)
            {
                if (failure is null)
                {
                    item.Done.TrySetResult();
                }
                else
                {
                    item.Done.TrySetException(failure);
                }
            }
        }

        public void Fail(IReadOnlyList<Pending> items, Exception failure) => Complete([.. items], failure);
    }
}
