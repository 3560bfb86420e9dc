using BenchmarkDotNet.Running;
using Dropbox.Benchmarks.Client;
using Dropbox.Benchmarks.Metadata;
using Dropbox.Benchmarks.Storage;

namespace Dropbox.Benchmarks;

/// <summary>
/// Entry point: pick benchmarks with --filter, e.g. --filter '*Chunking*'. Custom end-to-end runners are chosen by
/// their first argument: <c>storage-put</c>, <c>storage-transfer</c>, <c>storage-engine</c>, <c>storage-has</c>, <c>metadata-load</c>, <c>metadata-scale</c>, <c>metadata-reads</c>, <c>metadata-grown</c>, <c>metadata-exhaust</c>, <c>client-scale</c>.
/// </summary>
public static class BenchmarkProgram
{
    /// <summary>Runs the selected benchmarks.</summary>
    public static async Task<int> Main(string[] args)
    {
        switch (args.FirstOrDefault())
        {
            case "storage-put":
                return await StoragePutRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "storage-transfer":
                return await StorageTransferRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "storage-engine":
                return await StorageEngineRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "storage-has":
                return await StorageHasRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "client-scale":
                return await ClientScaleRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "metadata-load":
                return await MetadataLoadRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "metadata-scale":
                return await MetadataScaleRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "metadata-grown":
                return await MetadataGrownRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "metadata-reads":
                return await MetadataReadsRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case "metadata-exhaust":
                return await MetadataExhaustRunner.RunAsync(args[1..]).ConfigureAwait(false);
            case StandInStorageNode.Command:
                return await StandInStorageNode.RunAsync().ConfigureAwait(false);
            default:
                BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
                return 0;
        }
    }
}
