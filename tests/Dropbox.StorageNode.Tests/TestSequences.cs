using System.Buffers;

namespace Dropbox.StorageNode.Tests;

/// <summary>Bytes in pieces, as a connection's pipe holds a request body: one segment per array, in order.</summary>
internal static class TestSequences
{
    public static ReadOnlySequence<byte> Of(IReadOnlyList<byte[]> pieces)
    {
        var first = new Piece(pieces[0], 0);
        var last = first;
        foreach (var piece in pieces.Skip(1))
        {
            last = last.Append(piece);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Piece : ReadOnlySequenceSegment<byte>
    {
        public Piece(byte[] bytes, long runningIndex)
        {
            Memory = bytes;
            RunningIndex = runningIndex;
        }

        public Piece Append(byte[] bytes)
        {
            var next = new Piece(bytes, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
