namespace Dropbox.StorageNode.Engine.Files;

/// <summary>A file or directory of <see cref="MemoryFiles"/>: current bytes, durable bytes, and the changes between.</summary>
internal sealed class MemoryNode
{
    // Changes since the last fsync, in order: a write (offset, bytes) or a length change (offset = new length, bytes null).
    private readonly List<(long Offset, byte[]? Bytes)> _pending = new();
    private byte[] _durable = [];

    private MemoryNode(bool isDirectory) => IsDirectory = isDirectory;

    public bool IsDirectory { get; }

    public byte[] Data { get; private set; } = [];

    public long Length { get; private set; }

    public static MemoryNode NewDirectory() => new(isDirectory: true);

    public static MemoryNode NewFile() => new(isDirectory: false);

    public void Write(ReadOnlySpan<byte> source, long offset)
    {
        Apply(source, offset);
        _pending.Add((offset, source.ToArray()));
    }

    public void SetLength(long length)
    {
        Resize(length);
        _pending.Add((length, null));
    }

    public void MakeDurable()
    {
        _durable = Data.AsSpan(0, (int)Length).ToArray();
        _pending.Clear();
    }

    /// <summary>The node as a disk would hold it after a power cut: durable bytes, plus some later changes in order.</summary>
    public MemoryNode Survivor(Random random, double keep)
    {
        var node = NewFile();
        node.Apply(_durable, 0);
        foreach (var (offset, bytes) in _pending)
        {
            if (keep <= 0 || random.NextDouble() >= keep)
            {
                continue;
            }

            if (bytes is null)
            {
                node.Resize(offset);
            }
            else if (random.Next(4) == 0)
            {
                // Torn: only some leading 512-byte sectors of the write reached the disk.
                var sectors = (bytes.Length + 511) / 512;
                var kept = Math.Min(bytes.Length, random.Next(sectors + 1) * 512);
                node.Apply(bytes.AsSpan(0, kept), offset);
            }
            else
            {
                node.Apply(bytes, offset);
            }
        }

        node.MakeDurable();
        return node;
    }

    private void Apply(ReadOnlySpan<byte> source, long offset)
    {
        var end = offset + source.Length;
        if (end > Length)
        {
            Resize(end);
        }

        source.CopyTo(Data.AsSpan((int)offset));
    }

    private void Resize(long length)
    {
        if (length > Data.Length)
        {
            var grown = new byte[Math.Max(length, Data.Length * 2L)];
            Data.AsSpan(0, (int)Length).CopyTo(grown);
            Data = grown;
        }
        else if (length < Length)
        {
            Data.AsSpan((int)length, (int)(Length - length)).Clear();
        }

        Length = length;
    }
}
