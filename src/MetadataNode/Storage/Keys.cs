using System.Buffers.Binary;
using System.Text;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Storage;

/// <summary>
/// Key encodings. A namespace id and a path never contain a NUL byte, so NUL separates the parts and a
/// prefix scan over (namespace, path, NUL) never strays into another path. Sequences are big-endian so
/// keys sort in sequence order.
/// </summary>
internal static class Keys
{
    private const byte Separator = 0;

    /// <summary>Users CF: user by token hash.</summary>
    public static byte[] UserByTokenHash(ReadOnlySpan<byte> hash)
    {
        var key = new byte[1 + hash.Length];
        key[0] = (byte)'t';
        hash.CopyTo(key.AsSpan(1));
        return key;
    }

    /// <summary>Users CF: user by name.</summary>
    public static byte[] UserByName(string name) => Concat([(byte)'u'], Encoding.UTF8.GetBytes(name));

    /// <summary>Users CF prefix of the by-name entries.</summary>
    public static byte[] UserByNamePrefix { get; } = [(byte)'u'];

    /// <summary>Namespaces CF.</summary>
    public static byte[] Namespace(string ns) => Encoding.UTF8.GetBytes(ns);

    /// <summary>Files CF: (namespace, path).</summary>
    public static byte[] File(string ns, string path) => Concat(Encoding.UTF8.GetBytes(ns), [Separator], Encoding.UTF8.GetBytes(path));

    /// <summary>Files CF: every path of a namespace starting with <paramref name="pathPrefix"/>.</summary>
    public static byte[] FilePrefix(string ns, string pathPrefix) => File(ns, pathPrefix);

    /// <summary>Reads the path back from a Files CF key.</summary>
    public static string PathOfFileKey(ReadOnlySpan<byte> key)
    {
        var sep = key.IndexOf(Separator);
        return Encoding.UTF8.GetString(key[(sep + 1)..]);
    }

    /// <summary>Reads the namespace back from a Files/Versions/Changes/NamespaceChunks key.</summary>
    public static string NamespaceOfKey(ReadOnlySpan<byte> key) => Encoding.UTF8.GetString(key[..key.IndexOf(Separator)]);

    /// <summary>Versions CF: (namespace, path, sequence).</summary>
    public static byte[] Version(string ns, string path, ulong sequence)
    {
        var prefix = VersionPrefix(ns, path);
        var key = new byte[prefix.Length + 8];
        prefix.CopyTo(key, 0);
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(prefix.Length), sequence);
        return key;
    }

    /// <summary>Versions CF: every version of one path.</summary>
    public static byte[] VersionPrefix(string ns, string path) =>
        Concat(Encoding.UTF8.GetBytes(ns), [Separator], Encoding.UTF8.GetBytes(path), [Separator]);

    /// <summary>Reads (namespace, path, sequence) back from a Versions CF key.</summary>
    public static (string Namespace, string Path, ulong Sequence) ParseVersionKey(ReadOnlySpan<byte> key)
    {
        var first = key.IndexOf(Separator);
        var pathPart = key[(first + 1)..^9];
        return (Encoding.UTF8.GetString(key[..first]), Encoding.UTF8.GetString(pathPart), BinaryPrimitives.ReadUInt64BigEndian(key[^8..]));
    }

    /// <summary>Changes CF: (namespace, sequence).</summary>
    public static byte[] Change(string ns, ulong sequence)
    {
        var prefix = ChangePrefix(ns);
        var key = new byte[prefix.Length + 8];
        prefix.CopyTo(key, 0);
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(prefix.Length), sequence);
        return key;
    }

    /// <summary>Changes CF: the whole log of one namespace.</summary>
    public static byte[] ChangePrefix(string ns) => Concat(Encoding.UTF8.GetBytes(ns), [Separator]);

    /// <summary>Reads the sequence back from a Changes CF key.</summary>
    public static ulong SequenceOfChangeKey(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadUInt64BigEndian(key[^8..]);

    /// <summary>Chunks CF and Gc CF: the 32-byte id.</summary>
    public static byte[] Chunk(ChunkId id) => id.ToArray();

    /// <summary>
    /// Default CF: a deleted chunk's tombstone ("chunk-tombstone/" + id). Kept apart from the Chunks CF so the scans of
    /// stored chunks (re-replication, the under-replicated count) do not grow with every chunk ever deleted.
    /// </summary>
    public static byte[] ChunkTombstone(ChunkId id)
    {
        var prefix = "chunk-tombstone/"u8;
        var key = new byte[prefix.Length + ChunkId.Size];
        prefix.CopyTo(key);
        id.WriteTo(key.AsSpan(prefix.Length));
        return key;
    }

    /// <summary>NamespaceChunks CF: (namespace, chunk id).</summary>
    public static byte[] NamespaceChunk(string ns, ChunkId id)
    {
        var nsBytes = Encoding.UTF8.GetBytes(ns);
        var key = new byte[nsBytes.Length + 1 + ChunkId.Size];
        nsBytes.CopyTo(key, 0);
        key[nsBytes.Length] = Separator;
        id.WriteTo(key.AsSpan(nsBytes.Length + 1));
        return key;
    }

    /// <summary>Reads the chunk id back from a NamespaceChunks CF key.</summary>
    public static ChunkId ChunkOfNamespaceChunkKey(ReadOnlySpan<byte> key) => new(key[^ChunkId.Size..]);

    /// <summary>NamespaceChunks CF: every chunk of one namespace.</summary>
    public static byte[] NamespaceChunkPrefix(string ns) => Concat(Encoding.UTF8.GetBytes(ns), [Separator]);

    /// <summary>Default CF: a storage node forgotten by <c>nodes forget</c> ("forgotten-node/" + id).</summary>
    public static byte[] ForgottenNode(string nodeId) => Concat(ForgottenNodePrefix, Encoding.UTF8.GetBytes(nodeId));

    /// <summary>Default CF prefix of the forgotten nodes.</summary>
    public static byte[] ForgottenNodePrefix { get; } = "forgotten-node/"u8.ToArray();

    /// <summary>Nodes CF.</summary>
    public static byte[] Node(string nodeId) => Encoding.UTF8.GetBytes(nodeId);

    private static byte[] Concat(params byte[][] parts)
    {
        var length = 0;
        foreach (var p in parts)
        {
            length += p.Length;
        }

        var result = new byte[length];
        var pos = 0;
        foreach (var p in parts)
        {
            p.CopyTo(result, pos);
            pos += p.Length;
        }

        return result;
    }
}
