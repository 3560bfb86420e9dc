using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Threading.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.IO;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// A durable queue of "chunk stored" events for the metadata node. Appends are group-committed (one fsync for
/// many); delivery is at-least-once: the delivered position moves only after the metadata node accepted a batch.
/// Survives restarts; a torn tail record is ignored (it was never acknowledged).
/// </summary>
public sealed class EventOutbox : IAsyncDisposable
{
    private const int MaxRecord = 2 + 32 + 4 + 4 + 1 + 1 + 255 + 8;
    private const long CompactAbove = 1L << 20;

    private readonly string _logPath;
    private readonly string _deliveredPath;
    private readonly FileStream _log;
    private readonly object _lock = new();
    private readonly Channel<(StoredChunkEvent Event, TaskCompletionSource Done)> _queue =
        Channel.CreateUnbounded<(StoredChunkEvent, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private long _delivered;
    private long _length;
    private long _pending;

    /// <summary>Opens (or creates) the outbox in <paramref name="directory"/>.</summary>
    public EventOutbox(string directory)
    {
        PrivateFolder.Create(directory);
        _logPath = Path.Combine(directory, "events.log");
        _deliveredPath = Path.Combine(directory, "delivered");
        var created = !File.Exists(_logPath);
        var logOptions = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.Read, BufferSize = 1 };
        if (!OperatingSystem.IsWindows())
        {
            logOptions.UnixCreateMode = PrivateFile.Mode;
        }

        _log = new FileStream(_logPath, logOptions);
        if (created)
        {
            // Events fsynced into a log whose directory entry is not durable would vanish with it.
            DirectorySync.Flush(directory);
        }

        _delivered = File.Exists(_deliveredPath) && long.TryParse(File.ReadAllText(_deliveredPath).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var d) ? d : 0;

        // Find the end of the valid records; cut a torn tail.
        var valid = 0L;
        var all = File.ReadAllBytes(_logPath);
        while (TryParse(all.AsSpan((int)valid), out _, out var used))
        {
            valid += used;
        }

        if (valid != all.Length)
        {
            _log.SetLength(valid);
            _log.Flush(flushToDisk: true);
        }

        _length = valid;
        if (_delivered > _length)
        {
            _delivered = 0; // the log was emptied after full delivery
        }

        var pos = (int)_delivered;
        while (TryParse(all.AsSpan(pos, (int)(valid - pos)), out _, out var used))
        {
            pos += used;
            _pending++;
        }

        _writer = Task.Run(WriterLoopAsync);
    }

    /// <summary>Events not yet accepted by the metadata node.</summary>
    public long PendingCount => Interlocked.Read(ref _pending);

    /// <summary>Records an event durably; completes once it is on disk.</summary>
    public Task AppendAsync(StoredChunkEvent chunkEvent, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((chunkEvent, done)))
        {
            throw new ObjectDisposedException(nameof(EventOutbox));
        }

        return done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Waits until there may be something to deliver, or the timeout passes.</summary>
    public Task<bool> WaitForEventsAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        PendingCount > 0 ? Task.FromResult(true) : _wake.WaitAsync(timeout, cancellationToken);

    /// <summary>Up to <paramref name="max"/> undelivered events, each with the position just after it.</summary>
    public IReadOnlyList<(StoredChunkEvent Event, long End)> ReadPending(int max)
    {
        lock (_lock)
        {
            var events = new List<(StoredChunkEvent, long)>();
            var size = (int)(_length - _delivered);
            var buffer = new byte[Math.Min(size, max * MaxRecord)];
            var n = RandomAccess.Read(_log.SafeFileHandle, buffer, _delivered);
            var pos = 0;
            while (events.Count < max && TryParse(buffer.AsSpan(pos, n - pos), out var e, out var used))
            {
                pos += used;
                events.Add((e, _delivered + pos));
            }

            return events;
        }
    }

    /// <summary>Marks everything before <paramref name="end"/> delivered (from <see cref="ReadPending"/>).</summary>
    public void MarkDelivered(long end, int count)
    {
        lock (_lock)
        {
            if (end <= _delivered)
            {
                return;
            }

            _delivered = end;
            Interlocked.Add(ref _pending, -count);
            if (_delivered == _length && _length > CompactAbove)
            {
                _log.SetLength(0);
                _log.Flush(flushToDisk: true);
                _length = 0;
                _delivered = 0;
            }

            // Atomic but not fsynced: losing the latest mark only re-delivers events, which the metadata node ignores.
            var temp = _deliveredPath + ".tmp";
            using (var stream = new FileStream(temp, PrivateFile.CreateOptions()))
            {
                stream.Write(System.Text.Encoding.ASCII.GetBytes(_delivered.ToString(CultureInfo.InvariantCulture)));
            }

            File.Move(temp, _deliveredPath, overwrite: true);
        }
    }

    private async Task WriterLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<(StoredChunkEvent Event, TaskCompletionSource Done)>();
        var buffer = new byte[MaxRecord * 256];
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            var used = 0;
            while (batch.Count < 256 && reader.TryRead(out var item))
            {
                batch.Add(item);
                used += Write(item.Event, buffer.AsSpan(used));
            }

            try
            {
                lock (_lock)
                {
                    RandomAccess.Write(_log.SafeFileHandle, buffer.AsSpan(0, used), _length);
                    RandomAccess.FlushToDisk(_log.SafeFileHandle);
                    _length += used;
                    Interlocked.Add(ref _pending, batch.Count);
                }

                foreach (var item in batch)
                {
                    item.Done.TrySetResult();
                }

                _wake.Release();
            }
            catch (Exception ex)
            {
                foreach (var item in batch)
                {
                    item.Done.TrySetException(ex);
                }
            }
        }
    }

    private static int Write(StoredChunkEvent e, Span<byte> destination)
    {
        var ns = Encoding.UTF8.GetBytes(e.Namespace);
        var bodyLength = 32 + 4 + 4 + 1 + 1 + Math.Min(ns.Length, 255);
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)bodyLength);
        var body = destination.Slice(2, bodyLength);
        e.Id.WriteTo(body);
        BinaryPrimitives.WriteInt32LittleEndian(body[32..], e.PlainSize);
        BinaryPrimitives.WriteInt32LittleEndian(body[36..], e.StoredSize);
        body[40] = (byte)e.Encoding;
        body[41] = (byte)Math.Min(ns.Length, 255);
        ns.AsSpan(0, body[41]).CopyTo(body[42..]);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[(2 + bodyLength)..], XxHash3.HashToUInt64(body));
        return 2 + bodyLength + 8;
    }

    private static bool TryParse(ReadOnlySpan<byte> source, out StoredChunkEvent chunkEvent, out int used)
    {
        chunkEvent = null!;
        used = 0;
        if (source.Length < 2)
        {
            return false;
        }

        var bodyLength = BinaryPrimitives.ReadUInt16LittleEndian(source);
        if (bodyLength < 42 || source.Length < 2 + bodyLength + 8)
        {
            return false;
        }

        var body = source.Slice(2, bodyLength);
        if (BinaryPrimitives.ReadUInt64LittleEndian(source[(2 + bodyLength)..]) != XxHash3.HashToUInt64(body) || 42 + body[41] != bodyLength)
        {
            return false;
        }

        chunkEvent = new StoredChunkEvent(
            new ChunkId(body[..32]),
            BinaryPrimitives.ReadInt32LittleEndian(body[32..]),
            (ChunkEncoding)body[40],
            BinaryPrimitives.ReadInt32LittleEndian(body[36..]),
            Encoding.UTF8.GetString(body.Slice(42, body[41])));
        used = 2 + bodyLength + 8;
        return true;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        await _log.DisposeAsync().ConfigureAwait(false);
        _wake.Dispose();
    }
}
