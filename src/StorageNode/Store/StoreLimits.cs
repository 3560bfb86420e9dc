namespace Dropbox.StorageNode.Store;

/// <summary>Sizes the node accepts and sends. The one place buffer and frame sizes live.</summary>
public static class StoreLimits
{
    /// <summary>Largest data frame on the wire (gRPC data messages and HTTP write chunks).</summary>
    public const int MaxFrameBytes = 1024 * 1024;

    /// <summary>gRPC message limit: a data frame plus protobuf framing and a header's token.</summary>
    public const int MaxGrpcMessageBytes = MaxFrameBytes + (64 * 1024);

    /// <summary>Default largest chunk accepted (plain bytes).</summary>
    public const int DefaultMaxChunkBytes = 4 * 1024 * 1024;

    /// <summary>Hard ceiling on any configured chunk size.</summary>
    public const int AbsoluteMaxChunkBytes = 8 * 1024 * 1024;

    /// <summary>Most chunks one packed PutChunks message may carry.</summary>
    public const int MaxPackedChunks = 256;

    /// <summary>Most ids one Has/Delete/Get call may name.</summary>
    public const int MaxIdsPerCall = 100_000;

    /// <summary>
    /// Bytes a single PutChunks call may have in verification/commit at once. Deep enough that one group commit
    /// covers many chunks (an fsync has a high fixed cost), bounded so a call cannot hoard memory.
    /// </summary>
    public const long MaxInFlightBytesPerCall = 64L * 1024 * 1024;

    /// <summary>
    /// What each put counts against <see cref="MaxInFlightBytesPerCall"/> at the least, so a call of empty or tiny chunks
    /// has at most 16,384 puts in flight (a bytes-only limit let it start every one it sent).
    /// </summary>
    public const long MinInFlightChargePerPut = 4 * 1024;
}
