using Dropbox.Shared.Errors;

namespace Dropbox.SyncClient.Sync;

/// <summary>Only one pass at a time per state directory (an exclusive lock file, released even on SIGKILL).</summary>
internal sealed class PassLock : IDisposable
{
    public const string FileName = "sync.lock";

    private readonly FileStream _stream;

    private PassLock(FileStream stream)
    {
        _stream = stream;
    }

    public static PassLock Acquire(string stateDirectory)
    {
        try
        {
            return new PassLock(new FileStream(Path.Combine(stateDirectory, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException e)
        {
            throw new DropboxException(ErrorKind.Conflict, $"Another sync is running on state directory '{stateDirectory}'. Wait for it, or ask a running daemon for a pass with: sync --now", e);
        }
    }

    /// <summary>True when some process holds the lock right now.</summary>
    public static bool IsHeld(string stateDirectory)
    {
        try
        {
            using var probe = Acquire(stateDirectory);
            return false;
        }
        catch (DropboxException)
        {
            return true;
        }
    }

    public void Dispose() => _stream.Dispose();
}
