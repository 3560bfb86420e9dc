using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using K4os.Compression.LZ4;

namespace Dropbox.Shared.Compression;

/// <summary>
/// Per-chunk LZ4 (one raw LZ4 block, no frame). A chunk is stored compressed only when that pays: a cheap
/// sample test first (so JPEG, MP4 or random data costs two 4 KiB trial compressions, not a full one; a small chunk
/// of such data a count of the byte values at its ends), then the whole chunk, kept only if it saves at least 1/16
/// of its size.
/// </summary>
public static class Lz4ChunkCodec
{
    /// <summary>Bytes per trial sample.</summary>
    public const int SampleSize = 4 * 1024;

    /// <summary>Chunks up to this size skip the sample test and are simply tried whole.</summary>
    public const int SampleThreshold = 4 * SampleSize;

    /// <summary>Compression is kept only if it saves at least plain / <c>MinSavingDivisor</c> bytes.</summary>
    public const int MinSavingDivisor = 16;

    /// <summary>Bytes at each end of a small chunk whose byte values <see cref="LooksRandom"/> counts.</summary>
    internal const int RandomProbeSize = 1024;

    /// <summary>
    /// Distinct byte values in <see cref="RandomProbeSize"/> bytes at or above which they may be compressed or encrypted
    /// data. Random bytes show 251.3 of the 256 on average and fewer than 240 with a probability of 1.6e-6 (the exact
    /// occupancy distribution); text and most binaries far fewer. A miss only costs the trial.
    /// </summary>
    internal const int RandomDistinctBytes = 240;

    /// <summary>
    /// Most times one byte value may appear in <see cref="RandomProbeSize"/> bytes for them still to count as random:
    /// random bytes show each value 4 times on average and some value 25 times or more with a probability of about 3e-10;
    /// structured binary that uses every value (records, tables) repeats a few (zeros) far more often.
    /// </summary>
    internal const int RandomMostRepeats = 24;

    /// <summary>Worst-case encoded size of <paramref name="plainLength"/> bytes.</summary>
    public static int MaxEncodedLength(int plainLength) => LZ4Codec.MaximumOutputSize(plainLength);

    /// <summary>
    /// Compresses <paramref name="plain"/> into <paramref name="destination"/> if that pays. Returns
    /// <see cref="ChunkEncoding.Lz4"/> with <paramref name="written"/> bytes written, or
    /// <see cref="ChunkEncoding.Raw"/> with <paramref name="written"/> = 0 (store the plain bytes as they are;
    /// the destination's contents are then unspecified).
    /// </summary>
    /// <remarks>
    /// <paramref name="destination"/> needs only <c>plain.Length - plain.Length / 16</c> bytes: LZ4 stops as soon
    /// as its output would not fit, which is also the "does not pay" answer.
    /// </remarks>
    public static ChunkEncoding Encode(ReadOnlySpan<byte> plain, Span<byte> destination, out int written)
    {
        written = 0;
        if (plain.Length < 64 || !LooksCompressible(plain))
        {
            return ChunkEncoding.Raw;
        }

        return EncodeWhole(plain, destination, out written);
    }

    /// <summary>Compresses without the sample test; still keeps the result only if it saves 1/16.</summary>
    public static ChunkEncoding EncodeWhole(ReadOnlySpan<byte> plain, Span<byte> destination, out int written)
    {
        written = 0;
        var limit = plain.Length - (plain.Length / MinSavingDivisor) - 1;
        if (limit <= 0)
        {
            return ChunkEncoding.Raw;
        }

        var target = destination.Length > limit ? destination[..limit] : destination;
        var n = LZ4Codec.Encode(plain, target, LZ4Level.L00_FAST);
        if (n <= 0 || n > limit)
        {
            return ChunkEncoding.Raw;
        }

        written = n;
        return ChunkEncoding.Lz4;
    }

    /// <summary>
    /// The cheap test: LZ4-compresses a 4 KiB sample from the start and one from the middle, and says yes if
    /// together they shrink by at least 1/16. Small chunks (up to 16 KiB) are tried whole, unless both their ends
    /// already look like compressed or encrypted bytes (<see cref="LooksRandom"/>).
    /// </summary>
    public static bool LooksCompressible(ReadOnlySpan<byte> plain)
    {
        if (plain.Length <= SampleThreshold)
        {
            return plain.Length > 0 && !LooksRandom(plain);
        }

        Span<byte> scratch = stackalloc byte[SampleSize];
        var middle = (plain.Length / 2) - (SampleSize / 2);
        var total = SampleSize * 2;
        var budget = total - (total / MinSavingDivisor);

        var a = LZ4Codec.Encode(plain.Slice(0, SampleSize), scratch, LZ4Level.L00_FAST);
        if (a <= 0)
        {
            a = SampleSize; // did not fit: no saving
        }

        var b = LZ4Codec.Encode(plain.Slice(middle, SampleSize), scratch, LZ4Level.L00_FAST);
        if (b <= 0)
        {
            b = SampleSize;
        }

        return a + b <= budget;
    }

    /// <summary>
    /// Whether a small chunk looks like compressed (JPEG, PNG, ZIP, gzip) or encrypted bytes at both ends: nearly every
    /// byte value in its first and in its last KiB, none often. Then no whole LZ4 trial is made: per call LZ4 zeroes and
    /// fills a 16 KiB hash table, which costs more than a small chunk's bytes; this counts the values of at most 2 KiB
    /// in a table of 512 bytes on the stack (text stops after 256). Both ends, so that a chunk that starts random but
    /// ends in padding (the tail of a tar of compressed files) is still tried. Chunks under a KiB are tried as before.
    /// </summary>
    internal static bool LooksRandom(ReadOnlySpan<byte> plain) =>
        plain.Length >= RandomProbeSize
        && LooksRandomProbe(plain[..RandomProbeSize])
        && LooksRandomProbe(plain[^RandomProbeSize..]);

    private static bool LooksRandomProbe(ReadOnlySpan<byte> probe)
    {
        Span<ushort> counts = stackalloc ushort[256];
        counts.Clear();
        Count(probe[..RandomEarlyBytes], counts);
        if (Distinct(counts, out _) < RandomEarlyDistinct)
        {
            return false; // text and most binaries: known after a quarter of the probe
        }

        Count(probe[RandomEarlyBytes..], counts);
        return Distinct(counts, out var mostRepeats) >= RandomDistinctBytes && mostRepeats <= RandomMostRepeats;
    }

    /// <summary>Bytes counted before the early verdict of <see cref="LooksRandomProbe"/>.</summary>
    private const int RandomEarlyBytes = 256;

    /// <summary>
    /// Distinct values in the first <see cref="RandomEarlyBytes"/> below which a probe is not random: random bytes show 162
    /// on average and fewer than 128 with a probability of 2.3e-12 (exact).
    /// </summary>
    private const int RandomEarlyDistinct = 128;

    private static void Count(ReadOnlySpan<byte> bytes, Span<ushort> counts)
    {
        ref var count = ref MemoryMarshal.GetReference(counts);
        ref var data = ref MemoryMarshal.GetReference(bytes);
        for (nint i = 0; i < bytes.Length; i++)
        {
            Unsafe.Add(ref count, Unsafe.Add(ref data, i))++; // a byte indexes 256 counts: always in range
        }
    }

    /// <summary>Values counted at least once, and the largest count, a vector at a time (a branch per byte cost as much as LZ4).</summary>
    private static int Distinct(ReadOnlySpan<ushort> counts, out int mostRepeats)
    {
        var unseen = Vector<ushort>.Zero;
        var most = Vector<ushort>.Zero;
        foreach (var v in MemoryMarshal.Cast<ushort, Vector<ushort>>(counts))
        {
            unseen -= Vector.Equals(v, Vector<ushort>.Zero); // all ones (-1) where a value never appeared
            most = Vector.Max(most, v);
        }

        mostRepeats = 0;
        for (var i = 0; i < Vector<ushort>.Count; i++)
        {
            mostRepeats = Math.Max(mostRepeats, most[i]);
        }

        return 256 - Vector.Sum(unseen);
    }

    /// <summary>
    /// Decodes stored bytes into <paramref name="destination"/>, which must be exactly the plain length.
    /// Corrupt or wrong-length input is <see cref="ErrorKind.DataLoss"/>.
    /// </summary>
    public static void Decode(ChunkEncoding encoding, ReadOnlySpan<byte> stored, Span<byte> destination)
    {
        switch (encoding)
        {
            case ChunkEncoding.Raw:
                if (stored.Length != destination.Length)
                {
                    ThrowDataLoss($"A raw chunk of {stored.Length} bytes was expected to be {destination.Length} bytes.");
                }

                stored.CopyTo(destination);
                return;

            case ChunkEncoding.Lz4:
                int n;
                try
                {
                    n = LZ4Codec.Decode(stored, destination);
                }
                catch (Exception ex) when (ex is IndexOutOfRangeException or ArgumentException)
                {
                    ThrowDataLoss("A compressed chunk is corrupt: LZ4 decoding failed.", ex);
                    return;
                }

                if (n != destination.Length)
                {
                    ThrowDataLoss(n < 0
                        ? $"A compressed chunk is corrupt: LZ4 decoding of {stored.Length} bytes failed."
                        : $"A compressed chunk is corrupt: it decodes to {n} bytes, expected {destination.Length}.");
                }

                return;

            default:
                ThrowDataLoss($"Unknown chunk encoding {(int)encoding}.");
                return;
        }
    }

    /// <summary>Decodes stored bytes into a new array of <paramref name="plainLength"/> bytes.</summary>
    public static byte[] Decode(ChunkEncoding encoding, ReadOnlySpan<byte> stored, int plainLength)
    {
        if (plainLength < 0)
        {
            ThrowDataLoss($"A chunk cannot have a negative plain length ({plainLength}).");
        }

        var result = GC.AllocateUninitializedArray<byte>(plainLength);
        Decode(encoding, stored, result);
        return result;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDataLoss(string message, Exception? inner = null) =>
        throw new DropboxException(ErrorKind.DataLoss, message, inner);
}
