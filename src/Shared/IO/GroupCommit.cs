using System.Threading.Channels;

namespace Dropbox.Shared.IO;

/// <summary>
/// Group commit, in one place: callers queue items; one writer gathers what is queued into a group and writes it;
/// one barrier (fsync, WAL sync) then covers every group written so far, and only after it are the callers
/// completed. Many appends, one fsync, then acknowledge; nobody hears "done" before the barrier.
/// The stages (<see cref="IGroupCommitStages{TItem, TBatch}"/>) hold what is specific: the record format,
/// what to sync, how each caller's completion is set.
/// </summary>
/// <typeparam name="TItem">One caller's request.</typeparam>
/// <typeparam name="TBatch">What writing one group leaves for the barrier.</typeparam>
public sealed class GroupCommit<TItem, TBatch> : IDisposable
{
    private readonly IGroupCommitStages<TItem, TBatch> _stages;
    private readonly GroupCommitOptions _options;
    private readonly Func<TItem, long> _size;
    private readonly Channel<TItem> _queue;
    private readonly Channel<TBatch>? _written;
    private readonly Task _writer;
    private readonly Task _syncer;
    private readonly Func<IReadOnlyList<TBatch>, TimeSpan>? _linger;
    private Exception? _failure;

    /// <summary>Starts the loops.</summary>
    /// <param name="stages">Write, barrier and completion.</param>
    /// <param name="options">Group limits, queue bound, pipelining.</param>
    /// <param name="size">Bytes an item counts against <see cref="GroupCommitOptions.MaxBytes"/> (default 0).</param>
    /// <param name="linger">
    /// Pipelined only: given the batches gathered for the next barrier, how long to wait for more before running it
    /// (zero: run it now). Lets groups that wrote nothing share the next real barrier.
    /// </param>
    public GroupCommit(IGroupCommitStages<TItem, TBatch> stages, GroupCommitOptions options, Func<TItem, long>? size = null, Func<IReadOnlyList<TBatch>, TimeSpan>? linger = null)
    {
        _stages = stages;
        _options = options;
        _size = size ?? (_ => 0);
        _linger = linger;
        _queue = options.QueueCapacity > 0
            ? Channel.CreateBounded<TItem>(new BoundedChannelOptions(options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait })
            : Channel.CreateUnbounded<TItem>(new UnboundedChannelOptions { SingleReader = true });
        if (options.Pipelined)
        {
            _written = Channel.CreateBounded<TBatch>(new BoundedChannelOptions(options.WrittenCapacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
            _syncer = Task.Run(SyncLoopAsync);
        }
        else
        {
            _syncer = Task.CompletedTask;
        }

        if (options.ThreadName is { } name)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                try
                {
                    // Every wait blocks this thread, so the writes never run on a pool thread.
                    WriterLoopAsync(blocking: true).GetAwaiter().GetResult();
                    done.SetResult();
                }
                catch (Exception ex)
                {
                    done.SetException(ex);
                }
            })
            { IsBackground = true, Name = name };
            thread.Start();
            _writer = done.Task;
        }
        else
        {
            _writer = Task.Run(() => WriterLoopAsync(blocking: false));
        }
    }

    /// <summary>
    /// Set once a completion callback (<see cref="IGroupCommitStages{TItem, TBatch}.Complete"/> or
    /// <see cref="IGroupCommitStages{TItem, TBatch}.Fail"/>) threw: that group was failed with it, nothing more is
    /// accepted, and items still queued are failed with it rather than left waiting.
    /// </summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Queues an item, waiting for room if the queue is bounded and full.</summary>
    public ValueTask EnqueueAsync(TItem item, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(item, cancellationToken);

    /// <summary>Queues an item if there is room; false once <see cref="CompleteAsync"/> was called (or the bounded queue is full).</summary>
    public bool TryEnqueue(TItem item) => _queue.Writer.TryWrite(item);

    /// <summary>Takes no more items and waits until everything queued was written, made durable and completed.</summary>
    public async Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        await _syncer.ConfigureAwait(false);
    }

    /// <summary>Same as <see cref="CompleteAsync"/>, blocking.</summary>
    public void Dispose() => CompleteAsync().GetAwaiter().GetResult();

    private async Task WriterLoopAsync(bool blocking)
    {
        var reader = _queue.Reader;
        var single = new TBatch[1];
        try
        {
            while (blocking ? reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult() : await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var items = new List<TItem>();
                long bytes = 0;
                while (bytes < _options.MaxBytes && items.Count < _options.MaxItems && reader.TryRead(out var item))
                {
                    items.Add(item);
                    bytes += _size(item);
                }

                if (Failure is { } stopped)
                {
                    TryFail(items, stopped);
                    continue;
                }

                TBatch batch;
                try
                {
                    batch = _stages.Write(items);
                }
                catch (Exception ex)
                {
                    TryFail(items, ex);
                    continue;
                }

                if (_written is not null)
                {
                    if (blocking)
                    {
                        _written.Writer.WriteAsync(batch).AsTask().GetAwaiter().GetResult();
                    }
                    else
                    {
                        await _written.Writer.WriteAsync(batch).ConfigureAwait(false);
                    }

                    continue;
                }

                single[0] = batch;
                SyncAndComplete(single);
            }
        }
        finally
        {
            _written?.Writer.TryComplete();
        }
    }

    private async Task SyncLoopAsync()
    {
        var reader = _written!.Reader;
        var batches = new List<TBatch>();
        while (true)
        {
            if (batches.Count == 0 && !await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                break;
            }

            while (reader.TryRead(out var batch))
            {
                batches.Add(batch);
            }

            TimeSpan wait;
            try
            {
                wait = _linger?.Invoke(batches) ?? TimeSpan.Zero;
            }
            catch (Exception ex)
            {
                Stop(ex);
                wait = TimeSpan.Zero;
            }

            if (wait > TimeSpan.Zero && await WaitToReadAsync(reader, wait).ConfigureAwait(false))
            {
                // More arrived within the wait: gather it and ask again.
                continue;
            }

            SyncAndComplete(batches);
            batches.Clear();
        }
    }

    private void SyncAndComplete(IReadOnlyList<TBatch> batches)
    {
        Exception? failure = null;
        try
        {
            _stages.Sync(batches);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        foreach (var batch in batches)
        {
            try
            {
                _stages.Complete(batch, failure);
            }
            catch (Exception ex)
            {
                // A throwing callback must not end the loop (every later caller, and shutdown, would wait forever):
                // its group's callers are failed with the error (those it already completed keep their outcome).
                Stop(ex);
                try
                {
                    _stages.Complete(batch, Failure);
                }
                catch (Exception)
                {
                    // Nothing more can be done for this group: the callback fails either way.
                }
            }
        }
    }

    private void TryFail(IReadOnlyList<TItem> items, Exception failure)
    {
        try
        {
            _stages.Fail(items, failure);
        }
        catch (Exception ex)
        {
            Stop(ex);
        }
    }

    private void Stop(Exception callbackFailure)
    {
        Interlocked.CompareExchange(ref _failure, new InvalidOperationException($"The group commit stopped taking items: a completion callback threw ({callbackFailure.GetType().Name}: {callbackFailure.Message}).", callbackFailure), null);
        _queue.Writer.TryComplete();
    }

    private static async Task<bool> WaitToReadAsync(ChannelReader<TBatch> reader, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await reader.WaitToReadAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
