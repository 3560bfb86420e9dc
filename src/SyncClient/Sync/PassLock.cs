using System.Diagnostics;
using Dropbox.Shared.Errors;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Exclusive lock files in the state directory (released by the OS even on SIGKILL): one pass at a time
/// (<see cref="PassFileName"/>), one daemon at a time (<see cref="DaemonFileName"/>).
/// </summary>
internal sealed class PassLock : IDisposable
{
    public const string PassFileName = "sync.lock";

    public const string DaemonFileName = "daemon.lock";

    private readonly FileStream _stream;

    private PassLock(FileStream stream)
    {
        _stream = stream;
    }

    /// <summary>Takes the pass lock, waiting up to <paramref name="wait"/> for a running pass to finish.</summary>
    public static async Task<PassLock> AcquireAsync(string stateDirectory, TimeSpan wait, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (TryTake(Path.Combine(stateDirectory, PassFileName)) is { } taken)
            {
                return taken;
            }

            if (clock.Elapsed >= wait)
            {
                throw new DropboxException(ErrorKind.Conflict, $"Another sync is running on state directory '{stateDirectory}' and did not finish within {wait.TotalSeconds:0} s. Wait for it, or ask a running daemon for a pass with: sync --now");
            }

            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Takes the daemon lock or explains that a daemon already runs.</summary>
    public static PassLock AcquireDaemon(string stateDirectory) =>
        TryTake(Path.Combine(stateDirectory, DaemonFileName))
        ?? throw new DropboxException(ErrorKind.Conflict, $"A sync daemon already runs on state directory '{stateDirectory}'. Use 'sync --now' to ask it for a pass, or 'status'.");

    /// <summary>True when a daemon runs on this state directory.</summary>
    public static bool IsDaemonRunning(string stateDirectory)
    {
        using var probe = TryTake(Path.Combine(stateDirectory, DaemonFileName));
        return probe is null && File.Exists(Path.Combine(stateDirectory, DaemonFileName));
    }

    private static PassLock? TryTake(string path)
    {
        try
        {
            return new PassLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Dispose() => _stream.Dispose();
}
