using Dropbox.Shared.Errors;
using Google.Protobuf;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.Shared.Chunks;

/// <summary>Conversions between the domain vocabulary and its protobuf form.</summary>
public static class ChunkProtoExtensions
{
    /// <summary>The id as a protobuf bytes field.</summary>
    public static ByteString ToByteString(this ChunkId id)
    {
        Span<byte> bytes = stackalloc byte[ChunkId.Size];
        id.WriteTo(bytes);
        return ByteString.CopyFrom(bytes);
    }

    /// <summary>Reads an id from a protobuf bytes field; InvalidArgument unless it is exactly 32 bytes.</summary>
    public static ChunkId ToChunkId(this ByteString bytes)
    {
        if (!ChunkId.TryRead(bytes.Span, out var id))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"A chunk id is {ChunkId.Size} bytes (SHA-256); got {bytes.Length}.");
        }

        return id;
    }

    /// <summary>The reference as its protobuf message.</summary>
    public static Proto.ChunkRef ToProto(this ChunkRef chunk) => new()
    {
        Id = chunk.Id.ToByteString(),
        Size = (uint)chunk.Size,
        Encoding = (Proto.ChunkEncoding)chunk.Encoding,
        StoredSize = (uint)chunk.StoredSize,
    };

    /// <summary>Reads a reference from its protobuf message, refusing an out-of-range one.</summary>
    public static ChunkRef ToDomain(this Proto.ChunkRef chunk)
    {
        if (chunk.Encoding is not (Proto.ChunkEncoding.Raw or Proto.ChunkEncoding.Lz4))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Unknown chunk encoding {(int)chunk.Encoding}.");
        }

        if (chunk.Size > int.MaxValue || chunk.StoredSize > int.MaxValue)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, "Chunk size out of range.");
        }

        var storedSize = chunk.StoredSize == 0 && chunk.Encoding == Proto.ChunkEncoding.Raw ? chunk.Size : chunk.StoredSize;
        return new ChunkRef(chunk.Id.ToChunkId(), (int)chunk.Size, (ChunkEncoding)chunk.Encoding, (int)storedSize);
    }
}
