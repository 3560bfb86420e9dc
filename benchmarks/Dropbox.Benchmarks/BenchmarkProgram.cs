using BenchmarkDotNet.Running;

namespace Dropbox.Benchmarks;

/// <summary>Entry point: pick benchmarks with --filter, e.g. --filter '*Chunking*'.</summary>
public static class BenchmarkProgram
{
    /// <summary>Runs the selected benchmarks.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
}
