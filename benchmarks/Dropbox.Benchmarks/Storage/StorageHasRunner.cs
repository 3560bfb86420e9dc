using System.Diagnostics;
using System.Globalization;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Engine;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Dropbox.Benchmarks.Storage;

/// <summary>
/// Index lookup (has) rate in batches: directly on the engine, and over gRPC HasChunks into a node child process.
/// Usage: <c>storage-has [--chunks N] [--batch B] [--seconds S]</c>.
/// </summary>
public static class StorageHasRunner
{
    private const string NodeId = "bench-has";

    /// <summary>Runs both measurements and prints a table.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var chunkCount = StoragePutRunner.IntArg(args, "--chunks", 200_000);
        var batch = StoragePutRunner.IntArg(args, "--batch", 10_000);
        var seconds = StoragePutRunner.IntArg(args, "--seconds", 3);
        var root = Path.Combine(Path.GetTempPath(), "dbx-bench-has-" + Guid.NewGuid().ToString("N")[..8]);
        var data = Path.Combine(root, "data");
        var keys = Path.Combine(root, "keys");
        try
        {
            // Populate an engine with tiny records (the index cost does not depend on chunk size); half of the
            // looked-up ids are held and half are not.
            var held = Ids(chunkCount, 1);
            var missing = Ids(chunkCount, 2);
            await using (var engine = ChunkEngine.Open(new EngineOptions { Directory = data, CheckpointInterval = TimeSpan.Zero }))
            {
                var payload = new byte[16];
                var pending = new List<Task>();
                foreach (var id in held)
                {
                    pending.Add(engine.AppendAsync(id, ChunkEncoding.Raw, payload.Length, payload, CancellationToken.None).AsTask());
                    if (pending.Count == 2048)
                    {
                        await Task.WhenAll(pending).ConfigureAwait(false);
                        pending.Clear();
                    }
                }

                await Task.WhenAll(pending).ConfigureAwait(false);
                var lookups = held.Zip(missing, (a, b) => new[] { a, b }).SelectMany(x => x).ToArray();
                var engineRate = Measure(seconds, batch, lookups, (ids, present) => engine.Contains(ids.Span, present.Span));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| engine Contains, batches of {batch} | {engineRate:N0} ids/s |"));
            }

            var tokens = ChunkTokenService.ForKeyDirectory(keys);
            var system = tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, NodeId, Array.Empty<ChunkId>(), TimeSpan.FromHours(1));
            using var node = await NodeProcess.StartAsync(data, keys, NodeId).ConfigureAwait(false);
            using var channel = GrpcChannel.ForAddress(node.GrpcUrl, new GrpcChannelOptions { MaxSendMessageSize = 16 << 20 });
            var client = new ChunkStorage.ChunkStorageClient(channel);
            var all = held.Zip(missing, (a, b) => new[] { a, b }).SelectMany(x => x).ToArray();
            var requests = all.Chunk(batch).Select(part =>
            {
                var request = new HasChunksRequest { Token = system };
                request.ChunkIds.AddRange(part.Select(id => id.ToByteString()));
                return request;
            }).ToArray();
            await client.HasChunksAsync(requests[0]);
            long looked = 0;
            var watch = Stopwatch.StartNew();
            for (var i = 0; watch.Elapsed.TotalSeconds < seconds && i < 10_000_000; i++)
            {
                var request = requests[i % requests.Length];
                var response = await client.HasChunksAsync(request);
                looked += response.Present.Count;
            }

            var grpcRate = looked / watch.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| gRPC HasChunks (2nd process), batches of {batch} | {grpcRate:N0} ids/s |"));
            Console.WriteLine("target: >= 200,000 ids/s");
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static ChunkId[] Ids(int count, int seed)
    {
        var rng = new Random(seed);
        var bytes = new byte[ChunkId.Size];
        var ids = new ChunkId[count];
        for (var i = 0; i < count; i++)
        {
            rng.NextBytes(bytes);
            ids[i] = new ChunkId(bytes);
        }

        return ids;
    }

    private static double Measure(int seconds, int batch, ChunkId[] ids, Action<ReadOnlyMemory<ChunkId>, Memory<bool>> lookup)
    {
        var present = new bool[batch];
        long looked = 0;
        var watch = Stopwatch.StartNew();
        for (var i = 0; watch.Elapsed.TotalSeconds < seconds && i < 10_000_000; i++)
        {
            var start = (i * batch) % (ids.Length - batch);
            lookup(ids.AsMemory(start, batch), present);
            looked += batch;
        }

        return looked / watch.Elapsed.TotalSeconds;
    }
}
