using System.Buffers;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Grpc.Core;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// One <c>GetChunkResponse</c> message read without protobuf's per-message <c>byte[]</c> for the data field: data
/// frames (~1 MiB each) are copied straight from gRPC's receive buffer into a pooled <see cref="ChunkBuffer"/>, so a
/// download allocates nothing per frame. Same wire format as <see cref="GetChunkResponse"/>.
/// </summary>
internal sealed class ChunkFrame
{
    private const int HeaderField = 1;
    private const int DataField = 2;

    /// <summary>GetChunks with this reader for its responses (same service, method and request as the generated client).</summary>
    public static readonly Method<GetChunksRequest, ChunkFrame> GetChunksMethod = new(
        MethodType.ServerStreaming,
        ChunkStorage.Descriptor.FullName,
        "GetChunks",
        Marshallers.Create(static (GetChunksRequest r) => Google.Protobuf.MessageExtensions.ToByteArray(r), GetChunksRequest.Parser.ParseFrom),
        Marshallers.Create<ChunkFrame>(static (_, _) => throw new NotSupportedException("Chunk frames are only read."), Parse));

    private ChunkFrame(ChunkHeader? header, ChunkBuffer? data)
    {
        Header = header;
        Data = data;
    }

    /// <summary>A chunk's header, or null for a data frame.</summary>
    public ChunkHeader? Header { get; }

    /// <summary>A data frame's bytes (pooled: the reader disposes it), or null for a header.</summary>
    public ChunkBuffer? Data { get; }

    /// <summary>Parses one message (exposed for tests).</summary>
    internal static ChunkFrame Parse(ReadOnlySequence<byte> payload)
    {
        var reader = new SequenceReader<byte>(payload);
        ChunkHeader? header = null;
        ChunkBuffer? data = null;
        try
        {
            while (!reader.End)
            {
                var tag = ReadVarint(ref reader);
                var field = (int)(tag >> 3);
                var wire = (int)(tag & 7);
                switch (wire)
                {
                    case 0:
                        ReadVarint(ref reader);
                        break;
                    case 1:
                        Advance(ref reader, 8);
                        break;
                    case 5:
                        Advance(ref reader, 4);
                        break;
                    case 2:
                        var length = ReadVarint(ref reader);
                        if (length > (ulong)reader.Remaining)
                        {
                            throw Corrupt();
                        }

                        var slice = payload.Slice(reader.Position, (long)length);
                        reader.Advance((long)length);
                        if (field == HeaderField)
                        {
                            header = ChunkHeader.Parser.ParseFrom(slice);
                            data?.Dispose();
                            data = null;
                        }
                        else if (field == DataField)
                        {
                            data?.Dispose();
                            data = ChunkBuffer.Rent((int)length);
                            slice.CopyTo(data.Span);
                            header = null;
                        }

                        break;
                    default:
                        throw Corrupt();
                }
            }

            var frame = new ChunkFrame(header, data);
            data = null;
            return frame;
        }
        finally
        {
            data?.Dispose();
        }
    }

    private static ChunkFrame Parse(DeserializationContext context) => Parse(context.PayloadAsReadOnlySequence());

    private static ulong ReadVarint(ref SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out var b))
            {
                throw Corrupt();
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw Corrupt();
    }

    private static void Advance(ref SequenceReader<byte> reader, int count)
    {
        if (reader.Remaining < count)
        {
            throw Corrupt();
        }

        reader.Advance(count);
    }

    private static DropboxException Corrupt() => new(ErrorKind.DataLoss, "A storage node sent a malformed chunk frame.");
}
