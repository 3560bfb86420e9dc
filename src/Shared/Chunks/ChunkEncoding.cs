namespace Dropbox.Shared.Chunks;

/// <summary>How a chunk's bytes travel and rest. Values match the protobuf enum.</summary>
public enum ChunkEncoding : byte
{
    /// <summary>Plain bytes.</summary>
    Raw = 0,

    /// <summary>One LZ4 block of the plain bytes.</summary>
    Lz4 = 1,
}
