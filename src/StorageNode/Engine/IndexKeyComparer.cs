using FASTER.core;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Hashes an <see cref="IndexKey"/> by its first word: the key is already a SHA-256, so any 64 bits of it are
/// uniformly distributed and re-hashing would only cost time.
/// </summary>
internal sealed class IndexKeyComparer : IFasterEqualityComparer<IndexKey>
{
    public static IndexKeyComparer Instance { get; } = new();

    public long GetHashCode64(ref IndexKey k) => (long)k.A;

    public bool Equals(ref IndexKey k1, ref IndexKey k2) => k1.A == k2.A && k1.B == k2.B && k1.C == k2.C && k1.D == k2.D;
}
