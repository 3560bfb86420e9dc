using System.Text;
using BenchmarkDotNet.Attributes;
using Dropbox.Benchmarks.Pipeline;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;

namespace Dropbox.Benchmarks.Compression;

/// <summary>
/// The per-chunk compression decision (and its cost) on 1 MiB of text against 1 MiB of random bytes, and on a small file's
/// chunk (4,608 bytes, the mean of the peer runner's 1-8 KiB files), which is tried whole unless it looks random.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class Lz4EncodeBenchmarks
{
    private const int Size = 1024 * 1024;
    private readonly byte[] _random = new byte[Size];
    private byte[] _text = [];
    private byte[] _encodedText = [];
    private int _encodedLength;
    private readonly byte[] _destination = new byte[Lz4ChunkCodec.MaxEncodedLength(Size)];
    private readonly byte[] _plain = new byte[Size];
    private const int SmallSize = 4608;

    /// <summary>Builds the inputs from fixed seeds.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        rng.NextBytes(_random);
        string[] words = ["chunk", "store", "segment", "index", "the", "a", "sync", "file", "version", "node"];
        var sb = new StringBuilder(Size + 16);
        while (sb.Length < Size)
        {
            sb.Append(words[rng.Next(words.Length)]).Append(' ');
        }

        _text = Encoding.ASCII.GetBytes(sb.ToString(0, Size));
        _encodedText = new byte[Lz4ChunkCodec.MaxEncodedLength(Size)];
        Lz4ChunkCodec.Encode(_text, _encodedText, out _encodedLength);
    }

    /// <summary>Text: the sample says yes, the whole chunk is compressed.</summary>
    [Benchmark(Baseline = true)]
    [BytesPerOperation(Size)]
    public ChunkEncoding EncodeText() => Lz4ChunkCodec.Encode(_text, _destination, out _);

    /// <summary>Random: the sample says no, nothing more is done.</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public ChunkEncoding EncodeRandom() => Lz4ChunkCodec.Encode(_random, _destination, out _);

    /// <summary>Random without the sample test: what a full trial compression would cost.</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public ChunkEncoding EncodeRandomWithoutSample() => Lz4ChunkCodec.EncodeWhole(_random, _destination, out _);

    /// <summary>A small text chunk: tried whole and compressed.</summary>
    [Benchmark]
    [BytesPerOperation(SmallSize)]
    public ChunkEncoding EncodeSmallText() => Lz4ChunkCodec.Encode(_text.AsSpan(0, SmallSize), _destination, out _);

    /// <summary>A small random chunk: its first KiB looks random, no LZ4 trial.</summary>
    [Benchmark]
    [BytesPerOperation(SmallSize)]
    public ChunkEncoding EncodeSmallRandom() => Lz4ChunkCodec.Encode(_random.AsSpan(0, SmallSize), _destination, out _);

    /// <summary>A small random chunk tried whole, as every small chunk was before the random test.</summary>
    [Benchmark]
    [BytesPerOperation(SmallSize)]
    public ChunkEncoding EncodeSmallRandomWithoutTest() => Lz4ChunkCodec.EncodeWhole(_random.AsSpan(0, SmallSize), _destination, out _);

    /// <summary>Decoding the compressed text.</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public void DecodeText() => Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, _encodedText.AsSpan(0, _encodedLength), _plain);
}
