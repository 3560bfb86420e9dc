using System.Globalization;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Google.Protobuf;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// What the client accepts from a server: the same bounds the metadata node puts on what it accepts, so an answer
/// outside them is a broken or hostile server, refused with a message rather than trusted (or crashed on).
/// </summary>
internal static class RemoteBounds
{
    /// <summary>Largest plain chunk (the metadata node's limit; the chunker's own maximum is 4 MiB, fixed-size 5 MB).</summary>
    public const int MaxChunkSize = GrpcChunkTransfer.MaxStoredChunkBytes;

    /// <summary>Most chunks in one file version (the metadata node's limit).</summary>
    public const int MaxChunksPerFile = 1_000_000;

    /// <summary>
    /// Most chunks the metadata node takes in one committed version (its Limits.MaxChunksPerFile): a file that cuts into
    /// more is refused at commit, so an upload stops reading it as soon as it passes this.
    /// </summary>
    public const int MaxChunksPerUpload = 100_000;

    /// <summary>
    /// Most chunks the metadata node plans in one PlanUploads call, all files together (its Limits.MaxChunksPerPlanBatch):
    /// a group of small files that names more plans the rest one by one.
    /// </summary>
    public const int MaxChunksPerPlanCall = 4096;

    /// <summary>Largest file: as many maximum-size chunks as a version may hold.</summary>
    public const long MaxFileSize = (long)MaxChunkSize * MaxChunksPerFile;

    /// <summary>Most storage nodes tried for one chunk.</summary>
    public const int MaxNodesPerChunk = 16;

    /// <summary>Latest time a file may carry: the end of year 9999, the last instant <see cref="DateTime"/> holds.</summary>
    private static readonly long MaxMtimeUnixMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>Why a listed entry cannot be taken (path rules, size), or null when it can.</summary>
    public static string? CheckEntry(FileEntry entry)
    {
        if (!SyncPaths.TryCheckRemote(entry.Path, out var error))
        {
            return error;
        }

        if (entry.Size > MaxFileSize)
        {
            return $"Size {entry.Size} is beyond the largest file a version can hold ({MaxFileSize} bytes).";
        }

        return null;
    }

    /// <summary>
    /// A server mtime as a UTC time, or false when it is not one a file can carry (zero or before 1970, after the
    /// year 9999): the file then keeps the time it was written here.
    /// </summary>
    public static bool TryMtime(long unixMs, out DateTime utc)
    {
        if (unixMs <= 0 || unixMs > MaxMtimeUnixMs)
        {
            utc = default;
            return false;
        }

        utc = DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime;
        return true;
    }

    /// <summary>A server time for display (never throws; '?' for one out of range).</summary>
    public static string FormatTime(long unixMs, string format)
    {
        var min = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
        return unixMs < min || unixMs > MaxMtimeUnixMs
            ? "?".PadRight(format.Length)
            : DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Checks a download plan (or its first page) before a byte is written: the announced chunk count and each listed
    /// chunk's size within bounds, and the chunk sizes adding up to the file's size (for a plan of several pages: not
    /// beyond it; the downloader checks the later pages as they come and the sum at the end). Returns the listed
    /// chunks in domain form.
    /// </summary>
    /// <exception cref="DropboxException">DataLoss naming the path and what is wrong.</exception>
    public static List<ChunkRef> CheckPlan(string path, GetDownloadPlanResponse plan)
    {
        var size = plan.Entry.Size;
        if (size > MaxFileSize)
        {
            throw BadPlan(path, $"the file is said to be {size} bytes, beyond the largest a version can hold ({MaxFileSize})");
        }

        var announced = Math.Max((ulong)plan.Chunks.Count, plan.TotalChunks);
        if (announced > MaxChunksPerFile)
        {
            throw BadPlan(path, $"it lists {announced} chunks; a version holds at most {MaxChunksPerFile}");
        }

        var chunks = new List<ChunkRef>(plan.Chunks.Count);
        ulong total = 0;
        foreach (var get in plan.Chunks)
        {
            var chunk = CheckChunk(path, get);
            total += (ulong)chunk.Size;
            chunks.Add(chunk);
        }

        if (plan.HasMore ? total > size : total != size)
        {
            throw BadPlan(path, $"its chunks add up to {total} bytes but the file is said to be {size} bytes");
        }

        return chunks;
    }

    /// <summary>One chunk of a download plan in domain form, its reference and size within bounds.</summary>
    /// <exception cref="DropboxException">DataLoss naming the path and what is wrong.</exception>
    public static ChunkRef CheckChunk(string path, ChunkGet get)
    {
        if (get.Chunk is null)
        {
            throw BadPlan(path, "a chunk has no reference");
        }

        ChunkRef chunk;
        try
        {
            chunk = get.Chunk.ToDomain();
        }
        catch (DropboxException e)
        {
            throw BadPlan(path, e.Message);
        }

        if (chunk.Size > MaxChunkSize || chunk.StoredSize > MaxChunkSize)
        {
            throw BadPlan(path, $"chunk {chunk.Id.ToShortString()} is said to be {Math.Max(chunk.Size, chunk.StoredSize)} bytes; a chunk is at most {MaxChunkSize}");
        }

        return chunk;
    }

    /// <summary>
    /// Why an upload plan cannot be followed (a put for a chunk the file does not have, no node or a node address
    /// that is not an http(s) URL, more puts than copies could need), or null when it can.
    /// </summary>
    public static string? CheckUploadPlan(PlanUploadRequest request, PlanUploadResponse response)
    {
        if (response.Missing.Count > (long)request.Chunks.Count * MaxNodesPerChunk)
        {
            return $"refused the server's upload plan for '{SyncPaths.Display(request.Path)}': {response.Missing.Count} puts for {request.Chunks.Count} chunk(s)";
        }

        HashSet<ByteString>? ids = null;
        foreach (var put in response.Missing)
        {
            ids ??= [.. request.Chunks.Select(c => c.Id)];
            var why = !ids.Contains(put.ChunkId) ? "it asks for a chunk the file does not have"
                : put.Node is null || !IsNodeUrl(put.Node.GrpcUrl) ? $"it names a storage node at '{SyncPaths.Display(put.Node?.GrpcUrl)}', which is not an http(s) URL"
                : null;
            if (why is not null)
            {
                return $"refused the server's upload plan for '{SyncPaths.Display(request.Path)}': {why}";
            }
        }

        return null;
    }

    /// <summary>
    /// Checks the server's plan of one window of a file's chunks (PlanChunks) as <see cref="CheckUploadPlan(PlanUploadRequest, PlanUploadResponse)"/>
    /// checks a whole plan: the refusal, or null when it is within bounds.
    /// </summary>
    public static string? CheckUploadPlan(string path, IEnumerable<ChunkId> window, int count, PlanUploadResponse response)
    {
        if (response.Missing.Count > (long)count * MaxNodesPerChunk)
        {
            return $"refused the server's upload plan for '{SyncPaths.Display(path)}': {response.Missing.Count} puts for {count} chunk(s)";
        }

        HashSet<ChunkId>? ids = null;
        foreach (var put in response.Missing)
        {
            ids ??= [.. window];
            var why = put.ChunkId.Length != ChunkId.Size || !ids.Contains(put.ChunkId.ToChunkId()) ? "it asks for a chunk the file does not have"
                : put.Node is null || !IsNodeUrl(put.Node.GrpcUrl) ? $"it names a storage node at '{SyncPaths.Display(put.Node?.GrpcUrl)}', which is not an http(s) URL"
                : null;
            if (why is not null)
            {
                return $"refused the server's upload plan for '{SyncPaths.Display(path)}': {why}";
            }
        }

        return null;
    }

    /// <summary>True for a storage node address the client will connect to: an absolute http or https URL.</summary>
    public static bool IsNodeUrl(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && !string.IsNullOrEmpty(uri.Host);

    /// <summary>A sum of byte counts that stops at <see cref="long.MaxValue"/> (negative parts count as 0) instead of overflowing.</summary>
    public static long AddSaturating(long a, long b)
    {
        a = Math.Max(0, a);
        b = Math.Max(0, b);
        return a > long.MaxValue - b ? long.MaxValue : a + b;
    }

    /// <summary>The error for a download plan refused for <paramref name="what"/>.</summary>
    public static DropboxException BadPlan(string path, string what) =>
        new(ErrorKind.DataLoss, $"refused the server's download plan for '{SyncPaths.Display(path)}': {what}; nothing was written.");
}
