using System.Diagnostics;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// What one metadata node holds, for docs/SCALING.md: RocksDB bytes per committed file (its version, change, chunk
/// record), memory per account, memory per held long poll and how fast a commit wakes them all. Sizes, not speeds, so a
/// busy machine does not distort them (the wake latency is the exception, and says so). Prints a table; asserts nothing.
/// <c>metadata-scale [--files N] [--accounts N] [--polls N]</c>
/// </summary>
public static class MetadataScaleRunner
{
    /// <summary>Runs the three measurements.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var files = MetadataLoadRunner.IntArg(args, "--files", 100_000);
        var accounts = MetadataLoadRunner.IntArg(args, "--accounts", 10_000);
        var polls = MetadataLoadRunner.IntArg(args, "--polls", 4_000);
        var rows = new List<string>();
        var node = await BenchMetadataNode.StartAsync("md-scale-", LogLevel.Warning);
        try
        {
            using var channel = GrpcChannel.ForAddress(node.Url, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true } });

            // A node that answers (in its own process, so its memory is not counted here), kept live as a real one is.
            using var standIn = await StandInStorageNode.StartAsync();
            var cluster = await node.RegisterNodeAsync(channel, standIn.Url);
            using var stopBeats = new CancellationTokenSource();
            var beats = BenchMetadataNode.KeepAliveAsync(cluster, stopBeats.Token);

            // Accounts: the managed heap before and after adding them (each gets its in-memory state at once).
            var heap0 = Heap();
            var users = Enumerable.Range(0, accounts).Select(i => node.Store.AddUser("a" + i)).ToArray();
            rows.Add($"| accounts | {accounts:N0} added: {(Heap() - heap0) / (double)accounts:N0} bytes of managed heap each |");

            // Files: committed in batches of 100 over gRPC, spread over 8 accounts; RocksDB's folder measured after a
            // clean stop (the memtable flushed to sorted tables).
            var sync = new Sync.SyncClient(channel);
            var writers = users.Take(8).Select(u => (u.User, Header: new Grpc.Core.Metadata { { "authorization", "Bearer " + u.Token } })).ToArray();
            var dbBefore = FolderBytes(node.DataDirectory);
            for (var start = 0; start < files; start += 1000)
            {
                var count = Math.Min(1000, files - start);
                var chunks = Enumerable.Range(start, count).Select(i => MetadataLoadRunner.Chunk(50_000_000 + i)).ToArray();
                var report = new ReportChunksStoredRequest { NodeId = BenchMetadataNode.NodeId };
                report.Chunks.AddRange(chunks.Select((c, k) => new StoredChunk { ChunkId = c.Id, Size = c.Size, StoredSize = c.StoredSize, NamespaceId = writers[(start + k) % writers.Length].User.Namespace.Value }));
                await cluster.ReportChunksStoredAsync(report);
                for (var batch = 0; batch < count; batch += 100)
                {
                    foreach (var group in Enumerable.Range(batch, Math.Min(100, count - batch)).GroupBy(k => (start + k) % writers.Length))
                    {
                        var request = new CommitFilesRequest();
                        request.Files.AddRange(group.Select(k => new CommitFileRequest { Path = $"dir{(start + k) / 1000}/f{start + k}", Size = chunks[k].Size, Chunks = { chunks[k] }, Device = "bench" }));
                        await sync.CommitFilesAsync(request, writers[group.Key].Header);
                    }
                }
            }

            // Long polls: held open across accounts (at most 32 each, the per-account rule), then one commit per
            // account wakes its polls.
            GC.Collect();
            var rss0 = Environment.WorkingSet;
            heap0 = Heap();
            var pollers = users.Skip(8).Take((polls + 31) / 32).ToArray();
            using var stop = new CancellationTokenSource();
            var woken = new List<Task<double>>();
            var cursors = new Dictionary<string, string>();
            foreach (var u in pollers)
            {
                var header = new Grpc.Core.Metadata { { "authorization", "Bearer " + u.Token } };
                cursors[u.User.Namespace.Value] = (await sync.ListChangesAsync(new ListChangesRequest(), header)).Cursor;
            }

            var held = 0;
            var wakeAt = new long[pollers.Length];
            for (var p = 0; p < pollers.Length && held < polls; p++)
            {
                var u = pollers[p];
                var header = new Grpc.Core.Metadata { { "authorization", "Bearer " + u.Token } };
                var index = p;
                for (var k = 0; k < 32 && held < polls; k++, held++)
                {
                    woken.Add(Task.Run(async () =>
                    {
                        await sync.ListChangesAsync(new ListChangesRequest { Cursor = cursors[u.User.Namespace.Value], WaitSeconds = 120 }, header, cancellationToken: stop.Token);
                        return Stopwatch.GetElapsedTime(Volatile.Read(ref wakeAt[index])).TotalMilliseconds;
                    }));
                }
            }

            // Wait until the node holds them all (its pending calls show in its heap; a fixed settle time, bounded).
            await Task.Delay(TimeSpan.FromSeconds(5));
            GC.Collect();
            rows.Add($"| long polls held | {held:N0} over {pollers.Length:N0} accounts: {(Heap() - heap0) / (double)held:N0} bytes of managed heap and {(Environment.WorkingSet - rss0) / (double)held:N0} bytes of RSS each (client side of the calls included: one process) |");
            var wakeChunks = pollers.Select((_, i) => MetadataLoadRunner.Chunk(90_000_000 + i)).ToArray();
            var wakeReport = new ReportChunksStoredRequest { NodeId = BenchMetadataNode.NodeId };
            wakeReport.Chunks.AddRange(wakeChunks.Select((c, i) => new StoredChunk { ChunkId = c.Id, Size = c.Size, StoredSize = c.StoredSize, NamespaceId = pollers[i].User.Namespace.Value }));
            await cluster.ReportChunksStoredAsync(wakeReport);
            for (var p = 0; p < pollers.Length; p++)
            {
                Volatile.Write(ref wakeAt[p], Stopwatch.GetTimestamp());
                await sync.CommitFileAsync(new CommitFileRequest { Path = "wake", Size = wakeChunks[p].Size, Chunks = { wakeChunks[p] }, Device = "bench" }, new Grpc.Core.Metadata { { "authorization", "Bearer " + pollers[p].Token } });
            }

            var latencies = (await Task.WhenAll(woken).WaitAsync(TimeSpan.FromMinutes(2))).ToList();
            rows.Add($"| wake latency | commit sent to poll answered, {held:N0} polls: p50 {MetadataLoadRunner.P(latencies, 50):N1} ms, p99 {MetadataLoadRunner.P(latencies, 99):N1} ms, max {latencies.Max():N1} ms (wall clock: a busy machine inflates it) |");
            stop.Cancel();
            await stopBeats.CancelAsync();
            await beats;

            await node.StopAsync();
            var dbBytes = FolderBytes(node.DataDirectory) - dbBefore;
            rows.Add($"| files | {files:N0} one-chunk files committed: RocksDB folder grew {dbBytes / (double)(1 << 20):N1} MiB = {dbBytes / (double)files:N0} bytes per file (file record, version, change, chunk record and reference) |");
        }
        finally
        {
            await node.DisposeAsync();
        }

        Console.WriteLine($"metadata-scale: {Environment.ProcessorCount} cores");
        Console.WriteLine("| measurement | result |");
        Console.WriteLine("|---|---|");
        rows.ForEach(Console.WriteLine);
        return 0;
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static long FolderBytes(string folder) =>
        Directory.Exists(folder) ? new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
}
