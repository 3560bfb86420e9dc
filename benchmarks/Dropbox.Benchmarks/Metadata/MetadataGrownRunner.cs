using System.Diagnostics;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// A first upload of small files into a metadata node that already holds many (its records in sorted tables, as in a
/// store that has run a while), with the tables' Bloom filters off and on, side by side in one run. Each round starts a
/// node (over gRPC on loopback, a stand-in storage node answering its checks), commits <c>--files</c> 1-chunk files,
/// flushes the store, then times <c>--new</c> new files through the calls a client and a storage node make for them:
/// PlanUploads, the node's ReportChunksStored, CommitFiles, 250 files per call, 4 groups at once. Prints a table;
/// asserts nothing. <c>metadata-grown [--files N] [--new N] [--rounds N]</c>
/// </summary>
public static class MetadataGrownRunner
{
    private const int PerCall = 250;

    /// <summary>Runs the rounds.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var files = MetadataLoadRunner.IntArg(args, "--files", 500_000);
        var fresh = MetadataLoadRunner.IntArg(args, "--new", 20_000);
        var rounds = MetadataLoadRunner.IntArg(args, "--rounds", 2);
        var results = new Dictionary<bool, List<(double Wall, double CpuUs)>> { [false] = [], [true] = [] };
        for (var round = 0; round < rounds; round++)
        {
            foreach (var filters in new[] { false, true })
            {
                var result = await MeasureAsync(files, fresh, filters);
                results[filters].Add(result);
                Console.WriteLine($"round {round + 1}, table filters {(filters ? "on " : "off")}: {fresh:N0} new files in {result.Wall:F2} s, {result.CpuUs:F0} us of CPU per file");
            }
        }

        Console.WriteLine();
        Console.WriteLine($"| {fresh:N0} new 1-chunk files into a node holding {files:N0} (flushed), {rounds} rounds | filters off | filters on |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| wall (plan, report, commit; 250 per call, 4 groups at once) | {string.Join(" / ", results[false].Select(r => r.Wall.ToString("F2")))} s | {string.Join(" / ", results[true].Select(r => r.Wall.ToString("F2")))} s |");
        Console.WriteLine($"| CPU per file (node and callers, one process) | {string.Join(" / ", results[false].Select(r => r.CpuUs.ToString("F0")))} us | {string.Join(" / ", results[true].Select(r => r.CpuUs.ToString("F0")))} us |");
        return 0;
    }

    private static async Task<(double Wall, double CpuUs)> MeasureAsync(int files, int fresh, bool filters)
    {
        await using var node = await BenchMetadataNode.StartAsync("md-grown-", LogLevel.Warning, tableFilters: filters);
        using var channel = GrpcChannel.ForAddress(node.Url, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        });
        using var standIn = await StandInStorageNode.StartAsync();
        var cluster = await node.RegisterNodeAsync(channel, standIn.Url);
        using var stopBeats = new CancellationTokenSource();
        var beats = BenchMetadataNode.KeepAliveAsync(cluster, stopBeats.Token);
        var users = Enumerable.Range(0, 4).Select(i => node.Store.AddUser("g" + i)).ToArray();
        var headers = users.Select(u => new Grpc.Core.Metadata { { "authorization", "Bearer " + u.Token } }).ToArray();
        var sync = new Sync.SyncClient(channel);

        // The store as it is after a while: files committed (reported first, as after their puts), then flushed.
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, users.Length).Select(_ => Task.Run(async () =>
        {
            for (var g = Interlocked.Increment(ref next); g * PerCall < files; g = Interlocked.Increment(ref next))
            {
                var range = Enumerable.Range(g * PerCall, Math.Min(PerCall, files - g * PerCall)).ToArray();
                var u = g % users.Length;
                var report = new ReportChunksStoredRequest { NodeId = BenchMetadataNode.NodeId };
                var commit = new CommitFilesRequest();
                foreach (var i in range)
                {
                    var chunk = MetadataLoadRunner.Chunk(100_000_000 + i);
                    report.Chunks.Add(new StoredChunk { ChunkId = chunk.Id, Size = chunk.Size, StoredSize = chunk.StoredSize, NamespaceId = users[u].User.Namespace.Value });
                    commit.Files.Add(new CommitFileRequest { Path = $"old/d{i / 1000}/f{i}", Size = chunk.Size, Chunks = { chunk }, Device = "bench" });
                }

                await cluster.ReportChunksStoredAsync(report);
                await sync.CommitFilesAsync(commit, headers[u]);
            }
        })));
        node.Store.Engine.FlushAll();

        // New files as a client uploads them: plan (all missing), the node's "stored" report after the puts, commit.
        next = -1;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var g = Interlocked.Increment(ref next); g * PerCall < fresh; g = Interlocked.Increment(ref next))
            {
                var range = Enumerable.Range(g * PerCall, Math.Min(PerCall, fresh - g * PerCall)).ToArray();
                var u = g % users.Length;
                var plan = new PlanUploadsRequest();
                var report = new ReportChunksStoredRequest { NodeId = BenchMetadataNode.NodeId };
                var commit = new CommitFilesRequest();
                foreach (var i in range)
                {
                    var chunk = MetadataLoadRunner.Chunk(200_000_000 + i);
                    plan.Files.Add(new PlanUploadRequest { Path = $"new/d{i / 1000}/f{i}", Size = chunk.Size, Chunks = { chunk } });
                    report.Chunks.Add(new StoredChunk { ChunkId = chunk.Id, Size = chunk.Size, StoredSize = chunk.StoredSize, NamespaceId = users[u].User.Namespace.Value });
                    commit.Files.Add(new CommitFileRequest { Path = $"new/d{i / 1000}/f{i}", Size = chunk.Size, Chunks = { chunk }, Device = "bench" });
                }

                var answer = await sync.PlanUploadsAsync(plan, headers[u]);
                if (answer.Results.Any(r => r.Missing.Count != 1))
                {
                    throw new InvalidOperationException("A plan did not ask for its new chunk.");
                }

                await cluster.ReportChunksStoredAsync(report);
                var committed = await sync.CommitFilesAsync(commit, headers[u]);
                if (committed.Results.Count != range.Length || committed.Results.Any(r => r.StatusCode != 0))
                {
                    throw new InvalidOperationException("A commit of new files was refused.");
                }
            }
        })));
        watch.Stop();
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        await stopBeats.CancelAsync();
        try
        {
            await beats;
        }
        catch (OperationCanceledException)
        {
        }

        return (watch.Elapsed.TotalSeconds, used.TotalMicroseconds / fresh);
    }
}
