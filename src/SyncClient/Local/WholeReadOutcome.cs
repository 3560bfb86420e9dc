namespace Dropbox.SyncClient.Local;

/// <summary>What <see cref="WholeFileRead.TryRead"/> did.</summary>
internal enum WholeReadOutcome
{
    /// <summary>The file was read whole and was as scanned before the read.</summary>
    Read,

    /// <summary>Gone, unreadable, not a regular file, or not the size and mtime scanned (or not that long when read).</summary>
    NotAsScanned,

    /// <summary>Not available here: read the usual way.</summary>
    Unsupported,
}
