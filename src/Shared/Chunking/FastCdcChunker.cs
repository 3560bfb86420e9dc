using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dropbox.Shared.Chunking;

/// <summary>
/// FastCDC content-defined chunking (Xia et al., 2016/2020): a gear rolling hash <c>fp = (fp &lt;&lt; 1) + G[b]</c>,
/// no cut before the minimum size, a stricter mask before the average size and a looser one after it
/// ("normalized chunking", level 2), and a forced cut at the maximum. Inserting or deleting bytes changes only
/// the chunks around the edit.
/// </summary>
/// <remarks>
/// The masks test the hash's top bits: with a left-shifting gear hash, bit 63 depends on the last 64 bytes,
/// while low bits depend on only the last few. The test <c>(fp &amp; mask) == 0</c> for a top-bit mask of
/// <c>k</c> bits is the single compare <c>fp &lt; 2^(64-k)</c>. The hash is warmed up over the 64 bytes before
/// the minimum size so every cut decision is a function of the content window alone.
/// </remarks>
public sealed class FastCdcChunker : IChunker
{
    private const int Window = 64;

    private readonly int _min;
    private readonly int _avg;
    private readonly int _max;
    private readonly ulong _thresholdSmall; // stricter: used before the average size
    private readonly ulong _thresholdLarge; // looser: used after it

    /// <summary>Creates a chunker with the given limits (default 256 KiB / 1 MiB / 4 MiB).</summary>
    public FastCdcChunker(ChunkerOptions? options = null)
    {
        options ??= ChunkerOptions.Default;
        _ = new ChunkerOptions(options.MinSize, options.AvgSize, options.MaxSize); // re-validate (records allow `with`)
        _min = options.MinSize;
        _avg = options.AvgSize;
        _max = options.MaxSize;
        Options = options;

        var bits = (int)Math.Round(Math.Log2(options.AvgSize));
        var smallBits = Math.Clamp(bits + 2, 1, 63);
        var largeBits = Math.Clamp(bits - 2, 1, 63);
        _thresholdSmall = 1UL << (64 - smallBits);
        _thresholdLarge = 1UL << (64 - largeBits);
    }

    /// <summary>The limits in use.</summary>
    public ChunkerOptions Options { get; }

    /// <inheritdoc />
    public int MaxChunkSize => _max;

    /// <inheritdoc />
    public int FindBoundary(ReadOnlySpan<byte> data, bool isFinalBlock)
    {
        var length = data.Length;
        if (length <= _min)
        {
            return isFinalBlock ? length : 0;
        }

        var end = Math.Min(length, _max);
        var cut = Scan(ref MemoryMarshal.GetReference(data), end);
        if (cut > 0)
        {
            return cut;
        }

        if (length >= _max)
        {
            return _max;
        }

        return isFinalBlock ? length : 0;
    }

    /// <summary>First cut in (min, end], or 0. Requires end &gt; min.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Scan(ref byte data, int end)
    {
        ref var gear = ref MemoryMarshal.GetArrayDataReference(GearTable.Values);
        ulong fp = 0;

        // Warm up over the window before min, testing nothing.
        var i = Math.Max(0, _min - Window);
        for (; i < _min; i++)
        {
            fp = (fp << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i));
        }

        var normal = Math.Min(_avg, end);
        var result = ScanRange(ref data, ref gear, ref fp, i, normal, _thresholdSmall);
        if (result > 0)
        {
            return result;
        }

        return ScanRange(ref data, ref gear, ref fp, normal, end, _thresholdLarge);
    }

    /// <summary>
    /// Rolls the hash over [start, end) and returns the length up to and including the first byte after which
    /// <c>fp &lt; threshold</c>, or 0.
    /// </summary>
    /// <remarks>
    /// One byte per step, unrolled four times: <c>fp * 2 + G[b]</c> compiles to a single one-cycle <c>lea</c>,
    /// so the loop runs at about one byte per cycle. (Two-byte steps, <c>fp * 4 + (2 G[b0] + G[b1])</c>,
    /// measured slower: the JIT reassociates the sum back onto the dependency chain.)
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ScanRange(ref byte data, ref ulong gear, ref ulong fpRef, int start, int end, ulong threshold)
    {
        var fp = fpRef;
        nint i = start;
        nint last4 = end - 4;
        while (i <= last4)
        {
            fp = (fp << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i));
            if (fp < threshold)
            {
                goto Found1;
            }

            fp = (fp << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i + 1));
            if (fp < threshold)
            {
                goto Found2;
            }

            fp = (fp << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i + 2));
            if (fp < threshold)
            {
                goto Found3;
            }

            fp = (fp << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i + 3));
            if (fp < threshold)
            {
                goto Found4;
            }

            i += 4;
        }

        while (i < end)
        {
            fp = (fp << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i));
            i++;
            if (fp < threshold)
            {
                fpRef = fp;
                return (int)i;
            }
        }

        fpRef = fp;
        return 0;

    Found1:
        fpRef = fp;
        return (int)i + 1;
    Found2:
        fpRef = fp;
        return (int)i + 2;
    Found3:
        fpRef = fp;
        return (int)i + 3;
    Found4:
        fpRef = fp;
        return (int)i + 4;
    }
}
