using System.Buffers;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Dropbox.SyncClient.Remote;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests;

public sealed class ChunkFrameTests
{
    [Fact]
    public void A_header_message_parses_to_the_same_header()
    {
        var id = ChunkId.Compute([1, 2, 3]);
        var header = new ChunkHeader { ChunkId = id.ToByteString(), PlainSize = 3, StoredSize = 3, Token = "t" };
        var bytes = new GetChunkResponse { Header = header }.ToByteArray();

        var frame = ChunkFrame.Parse(new ReadOnlySequence<byte>(bytes));

        Assert.Equal(header, frame.Header);
        Assert.Null(frame.Data);
    }

    [Fact]
    public void A_data_message_split_across_segments_parses_to_the_same_bytes_in_a_pooled_buffer()
    {
        var data = TestClient.RandomBytes(1 << 20, 5);
        var bytes = new GetChunkResponse { Data = ByteString.CopyFrom(data) }.ToByteArray();

        var frame = ChunkFrame.Parse(Split(bytes, 3, 70_000, 600_000));

        Assert.Null(frame.Header);
        using var buffer = frame.Data!;
        Assert.Equal(data, buffer.Span.ToArray());
    }

    [Fact]
    public void An_empty_message_parses_to_neither_header_nor_data()
    {
        var frame = ChunkFrame.Parse(ReadOnlySequence<byte>.Empty);

        Assert.Null(frame.Header);
        Assert.Null(frame.Data);
    }

    [Fact]
    public void A_truncated_data_message_is_data_loss()
    {
        var bytes = new GetChunkResponse { Data = ByteString.CopyFrom(new byte[1000]) }.ToByteArray();

        var error = Assert.Throws<DropboxException>(() => ChunkFrame.Parse(new ReadOnlySequence<byte>(bytes.AsMemory(0, 500))));

        Assert.Equal(ErrorKind.DataLoss, error.Kind);
    }

    private static ReadOnlySequence<byte> Split(byte[] bytes, params int[] cuts)
    {
        var first = new Segment(bytes.AsMemory(0, cuts[0]), 0);
        var last = first;
        for (var i = 0; i < cuts.Length; i++)
        {
            var end = i + 1 < cuts.Length ? cuts[i + 1] : bytes.Length;
            last = last.Append(bytes.AsMemory(cuts[i], end - cuts[i]));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
