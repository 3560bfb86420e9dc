using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A real write blocked under the write lock (in its batch's commit) until released; the release also waits for the
/// calls made meanwhile (none may touch the store after it closes).
/// </summary>
internal sealed class WriterHold : IDisposable
{
    private readonly ManualResetEventSlim _release = new();
    private readonly List<Task> _calls = [];
    private Task _write = Task.CompletedTask;

    public Task[] Track(Task[] calls)
    {
        _calls.AddRange(calls);
        return calls;
    }

    public static async Task<WriterHold> StartAsync(StoreHarness h, Action write)
    {
        var hold = new WriterHold();
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = 0;
        h.Store.Transactions.BeforeCommit = () =>
        {
            if (Interlocked.Exchange(ref first, 1) == 0)
            {
                holding.SetResult();
                hold._release.Wait(TimeSpan.FromSeconds(60));
            }
        };
        hold._write = Task.Run(write);
        await holding.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return hold;
    }

    public async Task ReleaseAsync()
    {
        _release.Set();
        await _write.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.WhenAll(_calls).WaitAsync(TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        _release.Set();
        try
        {
            Task.WhenAll([_write, .. _calls]).Wait(TimeSpan.FromSeconds(30)); // a test that failed early: still none after the close
        }
        catch (AggregateException)
        {
            // their failures are the test's to report, not the clean-up's
        }

        _release.Dispose();
    }
}
