using System.Diagnostics;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// One account's budget of work in flight, in chunk units: a call takes as many units as the chunks it handles
/// (at least one, at most the whole budget) and waits, first come first served, while the account's other calls
/// hold them. A bounded number of calls may wait; beyond that the call is refused as ResourceExhausted. So one
/// account keeps at most a budget's worth of plan and commit work running, however many calls it sends, while
/// small calls (the usual case) run side by side. Over time an account names at most a rate of chunks per second (a
/// token bucket with a burst): a call past it waits, holding its units, so the account's later calls wait too.
/// </summary>
internal sealed class WorkGate
{
    private readonly object _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly int _budget;
    private readonly int _maxWaiting;
    private readonly double _rate;
    private readonly double _burst;
    private int _available;
    private double _bucket;
    private long _refilled = Stopwatch.GetTimestamp();

    public WorkGate(int budget, int maxWaiting, int ratePerSecond, int burst)
    {
        _budget = budget;
        _maxWaiting = maxWaiting;
        _available = budget;
        _rate = ratePerSecond;
        _burst = burst;
        _bucket = burst;
    }

    /// <summary>Waits for <paramref name="units"/> (clamped to 1..budget); dispose the result to give them back.</summary>
    public async ValueTask<Lease> EnterAsync(long units, CancellationToken cancellationToken)
    {
        var take = (int)Math.Clamp(units, 1, _budget);
        Waiter? waiter = null;
        LinkedListNode<Waiter>? node = null;
        lock (_lock)
        {
            if (_waiters.Count == 0 && _available >= take)
            {
                _available -= take;
            }
            else if (_waiters.Count >= _maxWaiting)
            {
                throw new DropboxException(ErrorKind.ResourceExhausted,
                    $"Too many calls waiting for this account: the limit is MaxQueuedCallsPerUser = {_maxWaiting} (with MaxChunkWorkInFlightPerUser = {_budget} chunks in work at once). Send fewer calls at a time.");
            }
            else
            {
                waiter = new Waiter(take);
                node = _waiters.AddLast(waiter);
            }
        }

        if (waiter is not null)
        {
            using (cancellationToken.Register(() => Cancel(node!)))
            {
                await waiter.Granted.Task.ConfigureAwait(false);
            }
        }

        return await PaceAsync(new Lease(this, take), units, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes <paramref name="units"/> from the bucket (into debt if need be) and waits out any debt, holding the lease.</summary>
    private async ValueTask<Lease> PaceAsync(Lease lease, long units, CancellationToken cancellationToken)
    {
        TimeSpan wait;
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            _bucket = Math.Min(_burst, _bucket + (Stopwatch.GetElapsedTime(_refilled, now).TotalSeconds * _rate));
            _refilled = now;
            _bucket -= Math.Max(1, units);
            wait = _bucket < 0 ? TimeSpan.FromSeconds(-_bucket / _rate) : TimeSpan.Zero;
        }

        if (wait > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                lease.Dispose();
                throw;
            }
        }

        return lease;
    }

    private void Cancel(LinkedListNode<Waiter> node)
    {
        lock (_lock)
        {
            if (node.List is null)
            {
                return; // already granted
            }

            _waiters.Remove(node);
            node.Value.Granted.TrySetCanceled();
            GrantWaiters();
        }
    }

    private void Release(int units)
    {
        lock (_lock)
        {
            _available += units;
            GrantWaiters();
        }
    }

    private void GrantWaiters()
    {
        while (_waiters.First is { } first && first.Value.Units <= _available)
        {
            _available -= first.Value.Units;
            _waiters.RemoveFirst();
            first.Value.Granted.TrySetResult();
        }
    }

    private sealed class Waiter(int units)
    {
        public int Units { get; } = units;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Units held by one call.</summary>
    public readonly struct Lease(WorkGate gate, int units) : IDisposable
    {
        public void Dispose() => gate?.Release(units);
    }
}
