using Dropbox.Shared.Chunks;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// The chunks of a file as it was last synced, each with its <see cref="ChunkFastHash"/>: a cut chunk whose length and
/// fast hash equal one of these takes that chunk's SHA-256 id without SHA-256 (<see cref="ChunkPipeline"/>); any other
/// chunk is hashed as always. Entries that name no real chunk of the file (a stale or corrupt list) can only miss,
/// costing the SHA-256 they would have saved; only a fast-hash collision with the right length could mislead it, which
/// the hash's secret key makes a chance of about 2^-128 whoever wrote the bytes (<see cref="ChunkFastHash"/>). A list
/// made under another key (a new or replaced key) only misses.
/// </summary>
public sealed class KnownChunks
{
    private readonly Dictionary<(int Length, UInt128 Fast), ChunkId> _byFastHash;

    /// <summary>
    /// A list from a chunk list and the fast hash of each chunk, in the same order. An entry whose length or fast hash
    /// is repeated with another id is left out (no shortcut for either): such a list cannot have come from one read.
    /// <paramref name="hash"/> is the keyed hash <paramref name="fastHashes"/> were made with and that a read computes.
    /// </summary>
    /// <exception cref="ArgumentException">The two lists differ in length.</exception>
    public KnownChunks(ChunkFastHash hash, IReadOnlyList<ChunkRef> chunks, IReadOnlyList<UInt128> fastHashes)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentNullException.ThrowIfNull(fastHashes);
        if (chunks.Count != fastHashes.Count)
        {
            throw new ArgumentException($"{chunks.Count} chunks but {fastHashes.Count} fast hashes: the lists must pair up.", nameof(fastHashes));
        }

        Hash = hash;
        _byFastHash = new Dictionary<(int, UInt128), ChunkId>(chunks.Count);
        HashSet<(int, UInt128)>? ambiguous = null;
        for (var i = 0; i < chunks.Count; i++)
        {
            var key = (chunks[i].Size, fastHashes[i]);
            if (_byFastHash.TryGetValue(key, out var seen) && seen != chunks[i].Id)
            {
                (ambiguous ??= []).Add(key);
            }

            _byFastHash[key] = chunks[i].Id;
        }

        foreach (var key in ambiguous ?? [])
        {
            _byFastHash.Remove(key);
        }
    }

    private KnownChunks(ChunkFastHash hash)
    {
        Hash = hash;
        _byFastHash = [];
    }

    /// <summary>The keyed hash a read computes for each chunk (and looks up).</summary>
    public ChunkFastHash Hash { get; }

    /// <summary>
    /// No chunks: every chunk is hashed with SHA-256, and each one's fast hash under <paramref name="hash"/> is computed
    /// (to be recorded for next time).
    /// </summary>
    public static KnownChunks None(ChunkFastHash hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        return new KnownChunks(hash);
    }

    /// <summary>Distinct (length, fast hash) entries.</summary>
    public int Count => _byFastHash.Count;

    /// <summary>The id of the known chunk with this length and fast hash.</summary>
    public bool TryGetId(int length, UInt128 fastHash, out ChunkId id) => _byFastHash.TryGetValue((length, fastHash), out id);
}
