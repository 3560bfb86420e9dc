using Dropbox.MetadataNode.Storage;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Group commit for the write-ahead log: callers that wrote a batch wait here, and one fsync covers every
/// write that returned before it started.
/// </summary>
internal sealed class WalSyncer : IDisposable
{
    private readonly RocksEngine _engine;
    private readonly object _gate = new();
    private readonly Thread? _thread;
    private List<TaskCompletionSource> _waiting = [];
    private bool _stopping;

    public WalSyncer(RocksEngine engine, bool enabled)
    {
        _engine = engine;
        if (enabled)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "metadata-wal-sync" };
            _thread.Start();
        }
    }

    /// <summary>Completes once every write this thread made before the call is on disk.</summary>
    public Task SyncAsync()
    {
        if (_thread is null)
        {
            return Task.CompletedTask;
        }

        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_stopping)
            {
                return Task.CompletedTask;
            }

            _waiting.Add(tcs);
            Monitor.Pulse(_gate);
        }

        return tcs.Task;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }

        _thread?.Join();
    }

    private void Run()
    {
        while (true)
        {
            List<TaskCompletionSource> batch;
            lock (_gate)
            {
                while (_waiting.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }

                batch = _waiting;
                _waiting = [];
                if (_stopping && batch.Count == 0)
                {
                    return;
                }
            }

            try
            {
                _engine.SyncWal();
                foreach (var t in batch)
                {
                    t.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                foreach (var t in batch)
                {
                    t.TrySetException(ex);
                }
            }
        }
    }
}
