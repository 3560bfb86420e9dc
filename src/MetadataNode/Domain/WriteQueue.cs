using System.Threading.Channels;
using Dropbox.MetadataNode.Storage;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The single writer: callers queue a mutation and await it; one dedicated thread runs everything queued,
/// one after another, then makes all of it durable with one WAL fsync (group commit) before completing any.
/// No thread-pool thread ever blocks on the write lock, and a burst of commits shares one fsync.
/// </summary>
internal sealed class WriteQueue : IDisposable
{
    private const int MaxGroup = 4096;
    private readonly Channel<WorkItem> _channel = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly RocksEngine _engine;
    private readonly bool _sync;
    private readonly Thread _thread;

    public WriteQueue(RocksEngine engine, bool sync)
    {
        _engine = engine;
        _sync = sync;
        _thread = new Thread(Run) { IsBackground = true, Name = "metadata-writer" };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="body"/> on the writer thread; completes once its writes are durable.</summary>
    public Task<T> RunAsync<T>(Func<T> body)
    {
        var item = new WorkItem<T>(body);
        if (!_channel.Writer.TryWrite(item))
        {
            throw new ObjectDisposedException(nameof(WriteQueue), "The metadata store is shutting down.");
        }

        return item.Task;
    }

    public void Dispose()
    {
        _channel.Writer.TryComplete();
        _thread.Join();
    }

    private void Run()
    {
        var group = new List<WorkItem>();
        var reader = _channel.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            group.Clear();
            while (group.Count < MaxGroup && reader.TryRead(out var item))
            {
                item.Execute();
                group.Add(item);
            }

            Exception? durability = null;
            if (_sync && group.Any(i => i.Succeeded))
            {
                try
                {
                    _engine.SyncWal();
                }
                catch (Exception ex)
                {
                    durability = ex;
                }
            }

            foreach (var item in group)
            {
                item.Complete(durability);
            }
        }
    }

    private abstract class WorkItem
    {
        public abstract bool Succeeded { get; }

        public abstract void Execute();

        public abstract void Complete(Exception? durabilityFailure);
    }

    private sealed class WorkItem<T>(Func<T> body) : WorkItem
    {
        private readonly TaskCompletionSource<T> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;
        private Exception? _error;

        public Task<T> Task => _tcs.Task;

        public override bool Succeeded => _error is null;

        public override void Execute()
        {
            try
            {
                _result = body();
            }
            catch (Exception ex)
            {
                _error = ex;
            }
        }

        public override void Complete(Exception? durabilityFailure)
        {
            if (_error is not null)
            {
                _tcs.TrySetException(_error);
            }
            else if (durabilityFailure is not null)
            {
                _tcs.TrySetException(durabilityFailure);
            }
            else
            {
                _tcs.TrySetResult(_result!);
            }
        }
    }
}
