using BenchmarkDotNet.Attributes;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Pipeline;

namespace Dropbox.Benchmarks.Pipeline;

/// <summary>
/// The whole upload-side pipeline (read, FastCDC cut, SHA-256, LZ4 decision) over 256 MiB of random bytes in a
/// MemoryStream, on all cores. Compare MB/s with <c>openssl speed -evp sha256</c> (16 KiB column, one core).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class PipelineBenchmarks
{
    private const int Size = 256 * 1024 * 1024;
    private readonly byte[] _data = new byte[Size];

    /// <summary>Workers hashing in parallel.</summary>
    [Params(1, 2)]
    public int Parallelism { get; set; } = Environment.ProcessorCount;

    private readonly CpuMeter _cpu = new();

    /// <summary>Fills the input from a fixed seed.</summary>
    [GlobalSetup]
    public void Setup() => new Random(4).NextBytes(_data);

    /// <summary>Starts CPU accounting (the benchmark then runs once per iteration).</summary>
    [IterationSetup]
    public void StartCpu() => _cpu.Start();

    /// <summary>Stops CPU accounting.</summary>
    [IterationCleanup]
    public void StopCpu() => _cpu.Stop();

    /// <summary>Prints MB per CPU-second and the cores busy.</summary>
    [GlobalCleanup]
    public void Report() => _cpu.Report($"pipeline Parallelism={Parallelism} (per method, in run order)", Size);

    /// <summary>Runs the pipeline to the end, disposing each chunk; returns the chunk count.</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public async Task<int> FastCdcPipeline()
    {
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = Parallelism });
        var count = 0;
        await foreach (var chunk in pipeline.ProcessAsync(new MemoryStream(_data, writable: false)))
        {
            chunk.Dispose();
            count++;
        }

        return count;
    }

    /// <summary>The same over the buffer as memory (no stream, no copy into pooled blocks).</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public async Task<int> FastCdcPipelineInMemory()
    {
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = Parallelism });
        var count = 0;
        await foreach (var chunk in pipeline.ProcessAsync(_data.AsMemory()))
        {
            chunk.Dispose();
            count++;
        }

        return count;
    }
}
