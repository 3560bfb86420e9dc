using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;

namespace Dropbox.Benchmarks.Storage;

/// <summary>
/// Engine-only append throughput (no network, no SHA-256), to tell the engine's cost from the service's.
/// Usage: <c>storage-engine [--count N] [--concurrency C]</c>.
/// </summary>
public static class StorageEngineRunner
{
    /// <summary>Runs and prints MB/s.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var count = StoragePutRunner.IntArg(args, "--count", 256);
        var concurrency = StoragePutRunner.IntArg(args, "--concurrency", 16);
        var dir = Path.Combine(Path.GetTempPath(), "dbx-bench-engine-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var chunks = Enumerable.Range(0, count).Select(_ =>
            {
                var bytes = RandomNumberGenerator.GetBytes(1 << 20);
                return (Id: ChunkId.Compute(bytes), Bytes: bytes);
            }).ToList();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var hash = Stopwatch.StartNew();
            foreach (var (_, bytes) in chunks)
            {
                SHA256.HashData(bytes);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| SHA-256, one core | {count * 1.048576 / hash.Elapsed.TotalSeconds:F0} MB/s | CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / count:F2} ms/MiB |"));
            await using var engine = ChunkEngine.Open(new EngineOptions { Directory = dir, CheckpointInterval = TimeSpan.Zero });
            using var gate = new SemaphoreSlim(concurrency);
            var cpu1 = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(chunks.Select(async c =>
            {
                await gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    await engine.AppendAsync(c.Id, ChunkEncoding.Raw, c.Bytes.Length, c.Bytes, CancellationToken.None).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
            })).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| engine append 1 MiB, {concurrency} in flight | {count * 1.048576 / watch.Elapsed.TotalSeconds:F1} MB/s | CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpu1).TotalMilliseconds / count:F2} ms/MiB |"));
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
