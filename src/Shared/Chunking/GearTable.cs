namespace Dropbox.Shared.Chunking;

/// <summary>
/// The 256 gear values of the FastCDC rolling hash. They come from splitmix64 with a fixed seed, so every
/// build on every machine cuts the same bytes at the same places forever; changing the seed or the generator
/// would change every chunk id and defeat deduplication against existing data.
/// </summary>
internal static class GearTable
{
    /// <summary>The fixed splitmix64 seed ("DropboxG" in ASCII).</summary>
    public const ulong Seed = 0x44726F70626F7847UL;

    /// <summary>The gear values, indexed by byte.</summary>
    public static readonly ulong[] Values = Create();

    private static ulong[] Create()
    {
        var table = new ulong[256];
        var state = Seed;
        for (var i = 0; i < table.Length; i++)
        {
            // splitmix64 (Steele, Lea, Flood 2014).
            state += 0x9E3779B97F4A7C15UL;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            table[i] = z ^ (z >> 31);
        }

        return table;
    }
}
