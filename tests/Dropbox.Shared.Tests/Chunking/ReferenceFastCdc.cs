using Dropbox.Shared.Chunking;

namespace Dropbox.Shared.Tests.Chunking;

/// <summary>
/// The chunking definition written as plainly as possible (one byte at a time, one chain, no unrolling), to
/// check the optimized scanner against.
/// </summary>
internal static class ReferenceFastCdc
{
    public static int FindBoundary(ReadOnlySpan<byte> data, ChunkerOptions o, bool isFinalBlock)
    {
        if (data.Length <= o.MinSize)
        {
            return isFinalBlock ? data.Length : 0;
        }

        var bits = (int)Math.Round(Math.Log2(o.AvgSize));
        var strict = 1UL << (64 - Math.Clamp(bits + 2, 1, 63));
        var loose = 1UL << (64 - Math.Clamp(bits - 2, 1, 63));
        ulong fp = 0;
        for (var i = o.MinSize - 64; i < o.MinSize; i++)
        {
            fp = (fp << 1) + GearTable.Values[data[i]];
        }

        var end = Math.Min(data.Length, o.MaxSize);
        for (var i = o.MinSize; i < end; i++)
        {
            fp = (fp << 1) + GearTable.Values[data[i]];
            if (fp < (i < o.AvgSize ? strict : loose))
            {
                return i + 1;
            }
        }

        if (data.Length >= o.MaxSize)
        {
            return o.MaxSize;
        }

        return isFinalBlock ? data.Length : 0;
    }
}
