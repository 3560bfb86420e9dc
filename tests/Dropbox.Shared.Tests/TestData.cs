using System.Text;

namespace Dropbox.Shared.Tests;

/// <summary>Deterministic test inputs.</summary>
internal static class TestData
{
    public const int MiB = 1024 * 1024;

    /// <summary>Random bytes from a fixed seed: the same buffer on every run.</summary>
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Compressible English-like text of about <paramref name="length"/> bytes.</summary>
    public static byte[] Text(int length, int seed = 7)
    {
        string[] words = ["the", "chunk", "store", "appends", "segments", "and", "an", "index", "maps", "ids", "to", "offsets", "while", "clients", "sync", "files", "quickly", "over", "network"];
        var rng = new Random(seed);
        var sb = new StringBuilder(length + 16);
        while (sb.Length < length)
        {
            sb.Append(words[rng.Next(words.Length)]);
            sb.Append(rng.Next(12) == 0 ? ".\n" : " ");
        }

        return Encoding.UTF8.GetBytes(sb.ToString(0, length));
    }
}
