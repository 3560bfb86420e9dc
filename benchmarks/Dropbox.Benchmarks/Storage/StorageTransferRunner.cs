using Dropbox.Shared.Channels;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Dropbox.SyncClient.Remote;

namespace Dropbox.Benchmarks.Storage;

/// <summary>
/// The sync client's two chunk transfers side by side against one storage node child process: gRPC streams
/// (<see cref="GrpcChunkTransfer"/>) and presigned HTTP/1.1 requests (<see cref="HttpChunkTransfer"/>), puts then
/// gets, for big and small chunks, interleaved round by round. Reports CPU per MiB of the client (this process) and
/// of the node, and MB/s. Puts go as the uploader sends them (batches of <c>--batch-mib</c> MiB or 256 chunks,
/// <c>--parallel</c> batches at once); gets as the downloader asks (one chunk per call, <c>--parallel</c> at once),
/// plus, for small chunks, gRPC calls of 256 chunks.
/// Usage: <c>storage-transfer [--mib N] [--small-count N] [--small-size BYTES] [--rounds R] [--parallel P] [--only grpc|http] [--dir DIR]</c>.
/// </summary>
public static class StorageTransferRunner
{
    private const string NodeId = "bench-node";

    /// <summary>Runs the comparison and prints a table.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var mib = StoragePutRunner.IntArg(args, "--mib", 256);
        var smallCount = StoragePutRunner.IntArg(args, "--small-count", 4000);
        var smallSize = StoragePutRunner.IntArg(args, "--small-size", 4096);
        var rounds = StoragePutRunner.IntArg(args, "--rounds", 2);
        var parallel = StoragePutRunner.IntArg(args, "--parallel", 4);
        var batchBytes = StoragePutRunner.IntArg(args, "--batch-mib", 8) << 20;
        var root = StoragePutRunner.StringArg(args, "--dir") ?? Path.Combine(Path.GetTempPath(), "dbx-bench-transfer-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var keys = Path.Combine(root, "keys");
            var tokens = ChunkTokenService.ForKeyDirectory(keys);
            tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, NodeId, Array.Empty<ChunkId>(), TimeSpan.FromMinutes(1));
            using var node = await NodeProcess.StartAsync(Path.Combine(root, "node"), keys, NodeId).ConfigureAwait(false);
            var location = new ChunkLocation { NodeId = NodeId, GrpcUrl = node.GrpcUrl, HttpUrl = node.HttpUrl };
            using var channels = ClientChannels.Create(ServerTrust.System);
            var grpc = new GrpcChunkTransfer(channels);
            using var http = new HttpChunkTransfer(ServerTrust.System, grpc, minHttpChunkBytes: 0);
            var only = StoragePutRunner.StringArg(args, "--only");
            var transfers = new (string Name, IChunkTransfer Transfer)[] { ("gRPC", grpc), ("HTTP/1.1", http) }
                .Where(t => only is null || t.Name.StartsWith(only, StringComparison.OrdinalIgnoreCase)).ToArray();
            Console.WriteLine($"storage-transfer: {mib} x 1 MiB and {smallCount} x {smallSize} B random chunks per protocol and round, {rounds} rounds, {parallel} calls at once, node pid {node.Pid}");

            // Warm-up (JIT, connections): a quarter of a round on each, not measured.
            foreach (var (name, transfer) in transfers)
            {
                await RunCaseAsync(transfer, location, tokens, node, Make(Math.Max(8, mib / 4), 1 << 20), parallel, batchBytes, batchGets: false).ConfigureAwait(false);
                await RunCaseAsync(transfer, location, tokens, node, Make(Math.Max(64, smallCount / 4), smallSize), parallel, batchBytes, batchGets: name == "gRPC").ConfigureAwait(false);
            }

            var results = new Dictionary<string, List<Measure>>();
            for (var round = 0; round < rounds; round++)
            {
                foreach (var (name, transfer) in round % 2 == 0 ? transfers : transfers.Reverse())
                {
                    var big = await RunCaseAsync(transfer, location, tokens, node, Make(mib, 1 << 20), parallel, batchBytes, batchGets: false).ConfigureAwait(false);
                    var small = await RunCaseAsync(transfer, location, tokens, node, Make(smallCount, smallSize), parallel, batchBytes, batchGets: name == "gRPC").ConfigureAwait(false);
                    Add(results, $"{name} put 1 MiB", big.Put);
                    Add(results, $"{name} get 1 MiB", big.Get);
                    Add(results, $"{name} put {smallSize} B (batched)", small.Put);
                    Add(results, $"{name} get {smallSize} B (1 per call)", small.Get);
                    if (small.BatchGet is { } batchGet)
                    {
                        Add(results, $"{name} get {smallSize} B (256 per call)", batchGet);
                    }

                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1} {name}: put 1 MiB client {big.Put.ClientMsPerMib:F2} node {big.Put.NodeMsPerMib:F2} ms/MiB {big.Put.MBps:F0} MB/s; get client {big.Get.ClientMsPerMib:F2} node {big.Get.NodeMsPerMib:F2} ms/MiB {big.Get.MBps:F0} MB/s; small put client {small.Put.ClientUsPerChunk:F0} node {small.Put.NodeUsPerChunk:F0} us/chunk"));
                }
            }

            Console.WriteLine();
            Console.WriteLine("| case | client CPU ms/MiB | node CPU ms/MiB | client+node us/chunk | MB/s | (medians) |");
            Console.WriteLine("|---|---|---|---|---|---|");
            foreach (var (name, list) in results)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {StoragePutRunner.Median(list.Select(m => m.ClientMsPerMib).ToList()):F2} | {StoragePutRunner.Median(list.Select(m => m.NodeMsPerMib).ToList()):F2} | {StoragePutRunner.Median(list.Select(m => m.ClientUsPerChunk + m.NodeUsPerChunk).ToList()):F0} | {StoragePutRunner.Median(list.Select(m => m.MBps).ToList()):F0} | |"));
            }

            Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static void Add(Dictionary<string, List<Measure>> results, string key, Measure measure)
    {
        if (!results.TryGetValue(key, out var list))
        {
            results[key] = list = [];
        }

        list.Add(measure);
    }

    private static List<(ChunkId Id, byte[] Bytes)> Make(int count, int size)
    {
        var chunks = new List<(ChunkId, byte[])>(count);
        for (var i = 0; i < count; i++)
        {
            var bytes = new byte[size];
            RandomNumberGenerator.Fill(bytes);
            chunks.Add((ChunkId.Compute(bytes), bytes));
        }

        return chunks;
    }

    private static async Task<(Measure Put, Measure Get, Measure? BatchGet)> RunCaseAsync(
        IChunkTransfer transfer, ChunkLocation node, ChunkTokenService tokens, NodeProcess process, List<(ChunkId Id, byte[] Bytes)> chunks, int parallel, int batchBytes, bool batchGets)
    {
        // Tokens first: issuing them is the metadata node's work, not the transfer's.
        var batches = new List<List<OutgoingChunk>>();
        var current = new List<OutgoingChunk>();
        long bytes = 0;
        foreach (var (id, data) in chunks)
        {
            current.Add(new OutgoingChunk(id, ChunkEncoding.Raw, data.Length, tokens.Issue(TokenOperation.Put, "bench", NodeId, [id], TimeSpan.FromMinutes(30)), data));
            bytes += data.Length;
            if (bytes >= batchBytes || current.Count >= 256)
            {
                batches.Add(current);
                current = [];
                bytes = 0;
            }
        }

        if (current.Count > 0)
        {
            batches.Add(current);
        }

        var total = chunks.Sum(c => (long)c.Bytes.Length);
        var put = await MeasureAsync(process, total, chunks.Count, () => Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (batch, ct) =>
            await transfer.PutChunksAsync(node, batch, ct).ConfigureAwait(false))).ConfigureAwait(false);

        var getTokens = chunks.Select(c => tokens.Issue(TokenOperation.Get, "bench", NodeId, [c.Id], TimeSpan.FromMinutes(30))).ToArray();
        var get = await MeasureAsync(process, total, chunks.Count, () => Parallel.ForAsync(0, chunks.Count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, ct) =>
        {
            var received = await transfer.GetChunksAsync(node, [chunks[i].Id], getTokens[i], ct).ConfigureAwait(false);
            Check(received, chunks, i, 1);
        })).ConfigureAwait(false);

        Measure? batchGet = null;
        if (batchGets)
        {
            var groups = Enumerable.Range(0, (chunks.Count + 255) / 256).Select(g => (From: g * 256, Count: Math.Min(256, chunks.Count - (g * 256)))).ToArray();
            var groupTokens = groups.Select(g => tokens.Issue(TokenOperation.Get, "bench", NodeId, chunks.Skip(g.From).Take(g.Count).Select(c => c.Id).ToArray(), TimeSpan.FromMinutes(30))).ToArray();
            batchGet = await MeasureAsync(process, total, chunks.Count, () => Parallel.ForAsync(0, groups.Length, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (g, ct) =>
            {
                var received = await transfer.GetChunksAsync(node, chunks.Skip(groups[g].From).Take(groups[g].Count).Select(c => c.Id).ToArray(), groupTokens[g], ct).ConfigureAwait(false);
                Check(received, chunks, groups[g].From, groups[g].Count);
            })).ConfigureAwait(false);
        }

        return (put, get, batchGet);
    }

    private static void Check(IReadOnlyList<IncomingChunk> received, List<(ChunkId Id, byte[] Bytes)> chunks, int from, int count)
    {
        try
        {
            if (received.Count != count)
            {
                throw new InvalidOperationException($"Expected {count} chunks, got {received.Count}.");
            }

            for (var k = 0; k < count; k++)
            {
                // The client verifies every chunk it receives; so does the benchmark, as the downloader would.
                if (received[k].Id != chunks[from + k].Id || ChunkId.Compute(received[k].Stored.Span) != chunks[from + k].Id)
                {
                    throw new InvalidOperationException($"Chunk {from + k} came back wrong.");
                }
            }
        }
        finally
        {
            foreach (var chunk in received)
            {
                chunk.Dispose();
            }
        }
    }

    private static async Task<Measure> MeasureAsync(NodeProcess node, long bytes, int chunks, Func<Task> run)
    {
        var nodeCpu = node.Cpu;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        await run().ConfigureAwait(false);
        watch.Stop();
        var nodeMs = (node.Cpu - nodeCpu).TotalMilliseconds;
        var clientMs = (Process.GetCurrentProcess().TotalProcessorTime - clientCpu).TotalMilliseconds;
        var mib = bytes / (double)(1 << 20);
        return new Measure(clientMs / mib, nodeMs / mib, clientMs * 1000 / chunks, nodeMs * 1000 / chunks, bytes / 1e6 / watch.Elapsed.TotalSeconds);
    }

    private sealed record Measure(double ClientMsPerMib, double NodeMsPerMib, double ClientUsPerChunk, double NodeUsPerChunk, double MBps);
}
