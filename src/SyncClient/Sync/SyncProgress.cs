namespace Dropbox.SyncClient.Sync;

/// <summary>Live counters of a pass for a progress display, plus a sink for per-file messages.</summary>
internal sealed class SyncProgress
{
    private long _filesTotal, _filesDone, _bytesTotal, _bytesDone;

    /// <summary>Receives one line per notable event (file uploaded, conflict...). Must be thread-safe.</summary>
    public Action<string> Log { get; init; } = static _ => { };

    public long FilesTotal => Volatile.Read(ref _filesTotal);
    public long FilesDone => Volatile.Read(ref _filesDone);
    public long BytesTotal => Volatile.Read(ref _bytesTotal);
    public long BytesDone => Volatile.Read(ref _bytesDone);

    /// <summary>Current phase ("scanning", "uploading"...).</summary>
    public string Phase { get; set; } = "starting";

    public void AddWork(long files, long bytes)
    {
        Interlocked.Add(ref _filesTotal, files);
        Interlocked.Add(ref _bytesTotal, bytes);
    }

    public void AddBytes(long bytes) => Interlocked.Add(ref _bytesDone, bytes);

    public void FileDone() => Interlocked.Increment(ref _filesDone);

    public void Reset()
    {
        Volatile.Write(ref _filesTotal, 0);
        Volatile.Write(ref _filesDone, 0);
        Volatile.Write(ref _bytesTotal, 0);
        Volatile.Write(ref _bytesDone, 0);
    }
}
