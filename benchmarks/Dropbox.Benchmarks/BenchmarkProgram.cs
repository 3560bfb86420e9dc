using BenchmarkDotNet.Running;

namespace Dropbox.Benchmarks;

/// <summary>Entry point: pick benchmarks with --filter, e.g. --filter '*Chunking*'.</summary>
public static class BenchmarkProgram
{
    /// <summary>Runs the selected benchmarks.</summary>
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "metadata-load")
        {
            Environment.Exit(Metadata.MetadataLoadRunner.RunAsync(args[1..]).GetAwaiter().GetResult());
        }

        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
    }
}
