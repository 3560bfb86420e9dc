namespace Dropbox.Shared.Chunks;

/// <summary>Limits of packed PutChunks messages (PackedChunks) that the storage node and the client must agree on.</summary>
public static class PackedChunkLimits
{
    /// <summary>Largest chunk (stored bytes) a packed message may carry; larger ones go as a header and data frames.</summary>
    public const int MaxChunkBytes = 64 * 1024;
}
