using BenchmarkDotNet.Attributes;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Pipeline;

namespace Dropbox.Benchmarks.Pipeline;

/// <summary>
/// A re-read of a large cached file as the client hashes one (no data kept, no compression), cut in order by one worker
/// at a time (<c>Segmented=false</c>) or in parallel segments (<see cref="SegmentedFileCutter"/>): the same chunks, so
/// the difference is how much of the cut runs beside the hashing. Run on a quiet machine; the CPU line shows the cost of
/// the segments' extra cutting (each segment's first chunks are cut twice).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class FilePipelineBenchmarks
{
    private const int Size = 256 * 1024 * 1024;
    private readonly CpuMeter _cpu = new();
    private string _folder = "";
    private string _path = "";

    /// <summary>Cut in parallel segments, or in order.</summary>
    [Params(false, true)]
    public bool Segmented { get; set; }

    /// <summary>Writes the file once (it stays in the page cache).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _folder = Path.Combine(Path.GetTempPath(), "dbx-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_folder);
        _path = Path.Combine(_folder, "big.bin");
        var data = new byte[Size];
        new Random(5).NextBytes(data);
        File.WriteAllBytes(_path, data);
    }

    /// <summary>Starts CPU accounting (the benchmark then runs once per iteration).</summary>
    [IterationSetup]
    public void StartCpu() => _cpu.Start();

    /// <summary>Stops CPU accounting.</summary>
    [IterationCleanup]
    public void StopCpu() => _cpu.Stop();

    /// <summary>Prints MB per CPU-second and the cores busy, and removes the file.</summary>
    [GlobalCleanup]
    public void Report()
    {
        _cpu.Report($"file pipeline Segmented={Segmented}", Size);
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>Reads, cuts and hashes the file on two workers; returns the chunk count.</summary>
    [Benchmark]
    [BytesPerOperation(Size)]
    public async Task<int> HashFile()
    {
        var options = new PipelineOptions
        {
            Parallelism = 2,
            KeepData = false,
            Compress = false,
            SegmentedCutThreshold = Segmented ? 0 : long.MaxValue,
        };
        var count = 0;
        await using var file = new FileStream(_path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            BufferSize = 0,
            Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
        });
        await foreach (var chunk in new ChunkPipeline(new FastCdcChunker(), options).ProcessAsync(file))
        {
            chunk.Dispose();
            count++;
        }

        return count;
    }
}
