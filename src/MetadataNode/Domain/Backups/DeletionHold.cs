namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>
/// Keeps garbage collection from deleting chunks on storage nodes while an online backup runs. The collector enters
/// before it asks nodes to delete and waits while a hold is on; a hold waits for deletes already under way, so from
/// the moment <see cref="HoldAsync"/> returns until the hold is disposed no delete reaches a node.
/// </summary>
internal sealed class DeletionHold
{
    private readonly object _lock = new();
    private int _holds;
    private int _deleting;
    private TaskCompletionSource _released = Completed();
    private TaskCompletionSource? _drained;
    private int _waiting;

    /// <summary>True while a backup holds deletions.</summary>
    public bool IsHeld
    {
        get
        {
            lock (_lock)
            {
                return _holds > 0;
            }
        }
    }

    /// <summary>Deletes waiting for a hold to end (tests wait on it instead of sleeping).</summary>
    public int WaitingDeletes => Volatile.Read(ref _waiting);

    /// <summary>Waits until no hold is on, then counts a delete under way until the result is disposed.</summary>
    public async Task<IDisposable> EnterDeleteAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task released;
            lock (_lock)
            {
                if (_holds == 0)
                {
                    _deleting++;
                    return new Lease(ExitDelete);
                }

                released = _released.Task;
            }

            Interlocked.Increment(ref _waiting);
            try
            {
                await released.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }
    }

    /// <summary>Stops new deletes and waits for those under way; deletes resume once every hold is disposed.</summary>
    public async Task<IDisposable> HoldAsync(CancellationToken cancellationToken)
    {
        Task drained;
        lock (_lock)
        {
            if (_holds++ == 0)
            {
                _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            if (_deleting == 0)
            {
                return new Lease(Release);
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }

        try
        {
            await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Release();
            throw;
        }

        return new Lease(Release);
    }

    private void ExitDelete()
    {
        TaskCompletionSource? drained = null;
        lock (_lock)
        {
            if (--_deleting == 0)
            {
                drained = _drained;
                _drained = null;
            }
        }

        drained?.TrySetResult();
    }

    private void Release()
    {
        TaskCompletionSource? released = null;
        lock (_lock)
        {
            if (--_holds == 0)
            {
                released = _released;
            }
        }

        released?.TrySetResult();
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }

    private sealed class Lease(Action release) : IDisposable
    {
        private Action? _release = release;

        public void Dispose() => Interlocked.Exchange(ref _release, null)?.Invoke();
    }
}
