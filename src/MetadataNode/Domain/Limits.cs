namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Bounds on what one request, and one account, may ask: the one place they live. Beyond a bound on work a call is
/// refused as ResourceExhausted naming the limit and its value; malformed values are InvalidArgument.
/// </summary>
internal static class Limits
{
    /// <summary>
    /// Chunks in one file version, and in one PlanUpload, CommitFile or CommitFiles call (100,000 chunks are 100 GB at
    /// the default 1 MiB average, 400 GB at the 4 MiB maximum). A plan answer for that many new chunks is ~33 MB.
    /// </summary>
    public const int MaxChunksPerFile = 100_000;

    /// <summary>
    /// Chunks in one PlanUploads call, all files together. Its answer carries a put (node, and a token shared by up to
    /// 16 chunks but repeated in each put: ~1.1 KB) per chunk and replica, so 100,000 chunks (the CommitFiles cap) made
    /// an answer of ~110 MB, over the 64 MiB message limit, after all the signing work. 4096 (the work one account may
    /// have in flight) keeps the answer near 4.5 MB per replica; a client's group of small files names far fewer.
    /// </summary>
    public const int MaxChunksPerPlanBatch = MaxChunkWorkInFlightPerUser;

    /// <summary>The refusal of a PlanUploads call naming more than <see cref="MaxChunksPerPlanBatch"/> chunks.</summary>
    public static Dropbox.Shared.Errors.DropboxException TooManyChunksToPlan(long count) =>
        new(Dropbox.Shared.Errors.ErrorKind.ResourceExhausted, $"Too many chunks in one PlanUploads call: {count}; the limit is MaxChunksPerPlanBatch = {MaxChunksPerPlanBatch} in all (the answer must fit one message). Plan fewer files per call, or a large file with PlanChunks windows.");

    /// <summary>
    /// Chunks in one PlanChunks window (a large file planned while it is read): the account's whole work budget
    /// (<see cref="MaxChunkWorkInFlightPerUser"/>), so a window is never larger than the work one account may have in flight.
    /// </summary>
    public const int MaxChunksPerWindow = MaxChunkWorkInFlightPerUser;

    /// <summary>
    /// Put tokens one account may have outstanding (planned, not yet reported stored, not expired): two plans of the
    /// largest file. Kept per account, so another account's pending puts never cost this one anything.
    /// </summary>
    public const int MaxPendingPutsPerUser = 250_000;

    /// <summary>
    /// Chunks one account may have in plan, commit or download-plan work at once: a call takes as many units as it
    /// names chunks, a larger call takes them all and runs alone; others wait their turn. Small enough that one account
    /// keeps at most about one core busy with signing and reading, however many calls it sends (a client's usual
    /// many small-file plans take a unit or a few each and run side by side).
    /// </summary>
    public const int MaxChunkWorkInFlightPerUser = 4096;

    /// <summary>
    /// Sustained chunks per second one account's plan, commit and download-plan calls may name (a token bucket; past
    /// it a call waits, holding the account's work budget). Far beyond what one user's transfers need (10 GB/s at the
    /// 1 MiB average chunk), it keeps an account that only plans from keeping a core busy with signing for ever.
    /// </summary>
    public const int MaxChunkRatePerUser = 10_000;

    /// <summary>Chunks an account may name at once before <see cref="MaxChunkRatePerUser"/> applies.</summary>
    public const int ChunkRateBurstPerUser = 250_000;

    /// <summary>Plan and commit calls one account may have waiting for its work budget.</summary>
    public const int MaxQueuedCallsPerUser = 256;

    /// <summary>Long polls (ListChanges with a wait) one account may hold open at once: one per device, with room.</summary>
    public const int MaxLongPollsPerUser = 32;

    /// <summary>Plain size of one chunk (the chunker's maximum is 4 MiB; fixed-size mode uses 5 MB).</summary>
    public const int MaxChunkSize = 64 * 1024 * 1024;

    /// <summary>The largest file size a request may name: <see cref="MaxChunksPerFile"/> chunks of <see cref="MaxChunkSize"/> (about 6.7 TB).</summary>
    public const ulong MaxFileSize = (ulong)MaxChunksPerFile * MaxChunkSize;

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

    /// <summary>Files in one CommitFiles or PlanUploads call.</summary>
    public const int MaxFilesPerBatch = 1000;

    /// <summary>Most chunks in one page of a download plan (compact form: ~100-250 bytes each).</summary>
    public const int MaxDownloadPlanPage = 10_000;

    /// <summary>
    /// Bytes of a download plan in the original, unpaged form (which repeats node and token for every chunk, ~1 KB a
    /// chunk); a larger plan is refused with a hint to page. Below the 64 MiB message limit, with room.
    /// </summary>
    public const int MaxUnpagedPlanBytes = 48 * 1024 * 1024;

    /// <summary>
    /// Puts (missing chunks times their copies) in one PlanUpload answer, each with its own node address and token
    /// (measured: ~310 bytes with short addresses, more with long ones): 250,000 keep the answer under 3/4 of the
    /// client's 256 MiB receive limit (the metadata node sends up to <see cref="MaxAnswerBytes"/>), are above every plan
    /// that fitted the 64 MiB answers of earlier builds (~217,000 puts at most), and never refuse a file of up to
    /// <see cref="MaxChunksPerFile"/> chunks at R = 2. A plan that needs more is refused with a hint to plan it by
    /// windows (PlanChunks, at most <see cref="MaxChunksPerWindow"/> chunks a call); the sync client then does so.
    /// </summary>
    public const int MaxPutsPerPlan = 250_000;

    /// <summary>Bytes of the largest answer the metadata node sends: the sync client's receive limit.</summary>
    public const int MaxAnswerBytes = 256 * 1024 * 1024;

    /// <summary>The refusal of a one-file plan whose puts would not fit one answer.</summary>
    public static Dropbox.Shared.Errors.DropboxException TooManyPuts(string path, int missing, int copies) =>
        new(Dropbox.Shared.Errors.ErrorKind.ResourceExhausted, $"The upload plan of '{path}' would carry {(long)missing * copies} puts ({missing} missing chunks x {copies} copies), more than one answer may (MaxPutsPerPlan = {MaxPutsPerPlan}); nothing was planned. Plan the file by windows with PlanChunks (at most {MaxChunksPerWindow} chunks a call), putting each window's chunks before the next.");

    /// <summary>Chunks that share one get token in a download plan.</summary>
    public const int ChunksPerGetToken = 16;

    /// <summary>
    /// Chunk ids in one HasChunks or DeleteChunks call to a storage node (34 bytes each on the wire: 8192 ids are
    /// about 280 KiB, well inside a node's 1 MiB message limit).
    /// </summary>
    public const int MaxIdsPerNodeCall = 8192;

    /// <summary>The refusal of a CommitFiles or PlanUploads call with more than <see cref="MaxFilesPerBatch"/> files.</summary>
    public static Dropbox.Shared.Errors.DropboxException TooManyFiles(int count) =>
        new(Dropbox.Shared.Errors.ErrorKind.ResourceExhausted, $"Too many files in one call: {count}; the limit is MaxFilesPerBatch = {MaxFilesPerBatch}. Send them in several calls.");

    /// <summary>Missing chunk ids named in the "missing-chunks" trailer.</summary>
    public const int MaxMissingIdsInTrailer = 100;
}
