namespace Dropbox.SyncClient.Remote;

/// <summary>
/// Cancels a transfer that has made no progress for <see cref="Limit"/>: a storage node that hangs (stopped, wedged,
/// a half-open connection) rather than failing, so the caller tries the next node holding the chunk instead of waiting
/// for the whole request's timeout. Each frame or read that arrives restarts the clock.
/// </summary>
internal sealed class StallWatch : IDisposable
{
    /// <summary>Longest wait for the next bytes of a chunk download.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _cts;
    private readonly CancellationToken _outer;

    public StallWatch(CancellationToken outer)
    {
        _outer = outer;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _cts.CancelAfter(Limit);
    }

    /// <summary>Cancelled by the caller or by a stall.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>True when the stall, not the caller, cancelled.</summary>
    public bool Stalled => _cts.IsCancellationRequested && !_outer.IsCancellationRequested;

    /// <summary>Bytes arrived: restart the clock.</summary>
    public void Progress() => _cts.CancelAfter(Limit);

    /// <summary>The error a stall becomes: unavailable, so the next replica is tried.</summary>
    public static Dropbox.Shared.Errors.DropboxException Error(string what, Exception inner) =>
        new(Dropbox.Shared.Errors.ErrorKind.Unavailable, $"{what}: the node sent nothing for {Limit.TotalSeconds:0} s; trying another node.", inner);

    public void Dispose() => _cts.Dispose();
}
