using System.IO.Hashing;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Dropbox.Benchmarks.Pipeline;
using Dropbox.Shared.Chunks;

namespace Dropbox.Benchmarks.Hashing;

/// <summary>SHA-256 (the chunk id) against XxHash3 (a non-cryptographic hash) on 1 MiB.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class HashBenchmarks
{
    private const int Size = 1024 * 1024;
    private readonly byte[] _data = new byte[Size];
    private readonly byte[] _hash = new byte[32];

    /// <summary>Fills the input from a fixed seed.</summary>
    [GlobalSetup]
    public void Setup() => new Random(1).NextBytes(_data);

    /// <summary>SHA256.HashData into a buffer.</summary>
    [Benchmark(Baseline = true)]
    [BytesPerOperation(Size)]
    public int Sha256() => SHA256.HashData(_data, _hash);

    /// <summary>ChunkId.Compute (SHA-256 into the id struct).</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public ChunkId ChunkIdCompute() => ChunkId.Compute(_data);

    /// <summary>XxHash3, 64-bit.</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public ulong XxHash3_64() => XxHash3.HashToUInt64(_data);
}
