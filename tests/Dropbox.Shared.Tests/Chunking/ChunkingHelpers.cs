using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;

namespace Dropbox.Shared.Tests.Chunking;

internal static class ChunkingHelpers
{
    /// <summary>Cuts a whole buffer, as if it were all in memory.</summary>
    public static List<int> Cut(IChunker chunker, ReadOnlySpan<byte> data)
    {
        var lengths = new List<int>();
        var pos = 0;
        while (pos < data.Length)
        {
            var n = chunker.FindBoundary(data[pos..], isFinalBlock: true);
            Assert.InRange(n, 1, data.Length - pos);
            lengths.Add(n);
            pos += n;
        }

        return lengths;
    }

    /// <summary>
    /// Cuts a buffer seen through a window that grows by <paramref name="step"/> bytes at a time, as a reader
    /// with small reads would see it.
    /// </summary>
    public static List<int> CutStreaming(IChunker chunker, byte[] data, int step)
    {
        var lengths = new List<int>();
        var pos = 0;
        var available = 0;
        var guard = 0;
        while (pos < data.Length)
        {
            Assert.True(++guard < 10_000_000, "chunking loop did not terminate");
            var final = available == data.Length;
            var n = chunker.FindBoundary(data.AsSpan(pos, available - pos), final);
            if (n == 0)
            {
                Assert.False(final);
                available = Math.Min(data.Length, available + step);
                continue;
            }

            lengths.Add(n);
            pos += n;
        }

        return lengths;
    }

    public static List<ChunkId> Ids(ReadOnlySpan<byte> data, List<int> lengths)
    {
        var ids = new List<ChunkId>(lengths.Count);
        var pos = 0;
        foreach (var n in lengths)
        {
            ids.Add(ChunkId.Compute(data.Slice(pos, n)));
            pos += n;
        }

        return ids;
    }

    /// <summary>How many ids of <paramref name="after"/> are not among <paramref name="before"/>.</summary>
    public static int NewIds(List<ChunkId> before, List<ChunkId> after)
    {
        var known = new HashSet<ChunkId>(before);
        return after.Count(id => !known.Contains(id));
    }
}
