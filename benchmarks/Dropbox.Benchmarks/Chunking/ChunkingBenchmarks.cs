using BenchmarkDotNet.Attributes;
using Dropbox.Benchmarks.Pipeline;
using Dropbox.Shared.Chunking;

namespace Dropbox.Benchmarks.Chunking;

/// <summary>Cutting 64 MiB of random bytes on one core: FastCDC (defaults) against fixed 5 MiB blocks.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class ChunkingBenchmarks
{
    private const int Size = 64 * 1024 * 1024;
    private readonly byte[] _data = new byte[Size];
    private readonly FastCdcChunker _fastCdc = new();
    private readonly FixedSizeChunker _fixed = new();

    private readonly CpuMeter _cpu = new();

    /// <summary>Fills the input from a fixed seed.</summary>
    [GlobalSetup]
    public void Setup() => new Random(2).NextBytes(_data);

    /// <summary>Starts CPU accounting (the benchmark then runs once per iteration).</summary>
    [IterationSetup(Target = nameof(FastCdc))]
    public void StartCpu() => _cpu.Start();

    /// <summary>Stops CPU accounting.</summary>
    [IterationCleanup(Target = nameof(FastCdc))]
    public void StopCpu() => _cpu.Stop();

    /// <summary>Prints MB per CPU-second.</summary>
    [GlobalCleanup(Target = nameof(FastCdc))]
    public void Report() => _cpu.Report("FastCDC one core", Size);

    /// <summary>FastCDC over the whole buffer; returns the chunk count.</summary>
    [Benchmark(Baseline = true)]
    [BytesPerOperation(Size)]
    public int FastCdc() => Cut(_fastCdc);

    /// <summary>Fixed-size cuts over the whole buffer; returns the chunk count.</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public int Fixed() => Cut(_fixed);

    private int Cut(IChunker chunker)
    {
        ReadOnlySpan<byte> data = _data;
        var count = 0;
        while (!data.IsEmpty)
        {
            data = data[chunker.FindBoundary(data, isFinalBlock: true)..];
            count++;
        }

        return count;
    }
}
