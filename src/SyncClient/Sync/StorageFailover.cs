using Dropbox.Shared.Errors;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// An upload whose put reached no node (a storage node died mid-way, or is down and not yet declared dead) is planned
/// again after a pause: the metadata node stops placing chunks on a node once it has been silent for its
/// <c>--node-dead-after</c>, and a new plan names only what is still missing. Bounded per file by <see cref="Delays"/>
/// (about a minute, longer than the default 35 s node timeout), and per pass by <see cref="PassBudget"/> from the first
/// failure, so a pass against a server that is simply down ends instead of waiting a minute per file.
/// </summary>
internal sealed class StorageFailover(TimeProvider? time = null)
{
    /// <summary>Pauses before each new plan of one file.</summary>
    public static readonly TimeSpan[] Delays =
        [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15)];

    /// <summary>After this long since the pass's first failure, failures are reported, not retried.</summary>
    public static readonly TimeSpan PassBudget = TimeSpan.FromSeconds(90);

    /// <summary>The pauses and the pass budget run on the context's clock (a simulation's clock jumps; it never sleeps).</summary>
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private long? _firstFailure;

    /// <summary>Runs <paramref name="upload"/>, again after each pause while it fails as unavailable.</summary>
    public async Task RunAsync(string path, Func<Task> upload, Action<string> log, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await upload().ConfigureAwait(false);
                return;
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.Unavailable && attempt < Delays.Length && WithinBudget())
            {
                log($"'{path}': {e.Message}; planning it again in {Delays[attempt].TotalSeconds:0} s (a storage node may be down)");
                await Task.Delay(Delays[attempt], _time, ct).ConfigureAwait(false);
            }
        }
    }

    private bool WithinBudget()
    {
        lock (_lock)
        {
            _firstFailure ??= _time.GetTimestamp();
            return _time.GetElapsedTime(_firstFailure.Value) < PassBudget;
        }
    }
}
