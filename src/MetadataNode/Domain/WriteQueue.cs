using Dropbox.MetadataNode.Storage;
using Dropbox.Shared.IO;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The single writer: callers queue a mutation and await it; one dedicated thread runs everything queued,
/// one after another, then makes all of it durable with one WAL fsync (group commit, through
/// <see cref="GroupCommit{TItem, TBatch}"/>) before completing any. No thread-pool thread ever blocks on the
/// write lock, and a burst of commits shares one fsync.
/// </summary>
internal sealed class WriteQueue : IDisposable
{
    private readonly GroupCommit<WorkItem, IReadOnlyList<WorkItem>> _commit;

    public WriteQueue(RocksEngine engine, bool sync)
    {
        _commit = new GroupCommit<WorkItem, IReadOnlyList<WorkItem>>(
            new Stages(engine, sync),
            new GroupCommitOptions { MaxItems = 4096, ThreadName = "metadata-writer" });
    }

    /// <summary>
    /// Runs <paramref name="body"/> on the writer thread; completes once its writes are durable. With
    /// <paramref name="durable"/>, a result it says false of is not waited for a WAL sync (its writes are on their own
    /// only a cache: a later sync, or none, decides whether they survive power loss).
    /// </summary>
    public Task<T> RunAsync<T>(Func<T> body, Func<T, bool>? durable = null)
    {
        var item = new WorkItem<T>(body, durable);
        if (!_commit.TryEnqueue(item))
        {
            throw new ObjectDisposedException(nameof(WriteQueue), "The metadata store is shutting down.");
        }

        return item.Task;
    }

    public void Dispose() => _commit.Dispose();

    /// <summary>Runs each body (its own failure is its own), then one WAL sync if any wrote something to keep.</summary>
    private sealed class Stages(RocksEngine engine, bool sync) : IGroupCommitStages<WorkItem, IReadOnlyList<WorkItem>>
    {
        public IReadOnlyList<WorkItem> Write(IReadOnlyList<WorkItem> items)
        {
            foreach (var item in items)
            {
                item.Execute();
            }

            return items;
        }

        public void Sync(IReadOnlyList<IReadOnlyList<WorkItem>> batches)
        {
            if (sync && batches.Any(b => b.Any(i => i.NeedsSync)))
            {
                engine.SyncWal();
            }
        }

        public void Complete(IReadOnlyList<WorkItem> batch, Exception? failure)
        {
            foreach (var item in batch)
            {
                item.Complete(failure);
            }
        }

        public void Fail(IReadOnlyList<WorkItem> items, Exception failure)
        {
            foreach (var item in items)
            {
                item.Complete(failure);
            }
        }
    }

    private abstract class WorkItem
    {
        /// <summary>Ran without failing, and its result is one to make durable.</summary>
        public abstract bool NeedsSync { get; }

        public abstract void Execute();

        public abstract void Complete(Exception? durabilityFailure);
    }

    private sealed class WorkItem<T>(Func<T> body, Func<T, bool>? durable) : WorkItem
    {
        private readonly TaskCompletionSource<T> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;
        private Exception? _error;

        public Task<T> Task => _tcs.Task;

        public override bool NeedsSync => _error is null && (durable is null || durable(_result!));

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
