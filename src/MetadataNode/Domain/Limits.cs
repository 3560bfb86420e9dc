namespace Dropbox.MetadataNode.Domain;

/// <summary>Bounds on what one request may ask. Beyond them a request is refused as InvalidArgument.</summary>
internal static class Limits
{
    /// <summary>Chunks in one file version.</summary>
    public const int MaxChunksPerFile = 1_000_000;

    /// <summary>Plain size of one chunk (the chunker's maximum is 4 MiB; fixed-size mode uses 5 MB).</summary>
    public const int MaxChunkSize = 64 * 1024 * 1024;

    /// <summary>Earliest modification time accepted (0001-01-01, the earliest a DateTimeOffset holds), in Unix ms.</summary>
    public const long MinMtimeUnixMs = -62_135_596_800_000;

    /// <summary>Latest modification time accepted (9999-12-31T23:59:59.999Z), in Unix ms.</summary>
    public const long MaxMtimeUnixMs = 253_402_300_799_999;

    /// <summary>Bytes of a path in UTF-8.</summary>
    public const int MaxPathBytes = 4096;

    /// <summary>Bytes of a device name.</summary>
    public const int MaxDeviceBytes = 256;

    /// <summary>Default and maximum page of ListChanges.</summary>
    public const int DefaultChangesLimit = 1000;

    /// <summary>Maximum page of ListChanges.</summary>
    public const int MaxChangesLimit = 10_000;

    /// <summary>Longest long poll.</summary>
    public const int MaxWaitSeconds = 300;

    /// <summary>Bytes of changes in one ListChanges answer (at least one change is always returned).</summary>
    public const int MaxChangesResponseBytes = 16 * 1024 * 1024;

    /// <summary>Entries moved or deleted by one folder operation.</summary>
    public const int MaxFolderOperationEntries = 100_000;

    /// <summary>Chunks in one ReportChunksStored or verification call.</summary>
    public const int MaxReportedChunks = 100_000;

    /// <summary>Files in one CommitFiles call.</summary>
    public const int MaxFilesPerBatch = 1000;

    /// <summary>Chunks that share one get token in a download plan.</summary>
    public const int ChunksPerGetToken = 16;

    /// <summary>
    /// Chunk ids in one HasChunks or DeleteChunks call to a storage node (34 bytes each on the wire: 8192 ids are
    /// about 280 KiB, well inside a node's 1 MiB message limit).
    /// </summary>
    public const int MaxIdsPerNodeCall = 8192;

    /// <summary>Missing chunk ids named in the "missing-chunks" trailer.</summary>
    public const int MaxMissingIdsInTrailer = 100;
}
