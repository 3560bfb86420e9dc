namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Wakes long-polling readers of one namespace's change log. Readers take <see cref="Current"/> before they
/// read, so a change that lands between the read and the wait still wakes them.
/// </summary>
internal sealed class ChangeSignal
{
    private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next change.</summary>
    public Task Current => Volatile.Read(ref _current).Task;

    /// <summary>Wakes every reader waiting now.</summary>
    public void Notify()
    {
        var previous = Interlocked.Exchange(ref _current, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        previous.TrySetResult();
    }
}
