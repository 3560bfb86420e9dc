using Dropbox.MetadataNode.Services.Mapping;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// End-to-end load runner for the metadata node over gRPC on loopback (not BenchmarkDotNet: it measures a
/// server under concurrent clients). Prints a table; asserts nothing.
/// <c>dotnet run -c Release --project benchmarks/Dropbox.Benchmarks -- metadata-load [--commits N] [--clients N] [--no-fsync]</c>
/// </summary>
public static class MetadataLoadRunner
{
    /// <summary>Runs the three measurements: commit throughput, ListChanges latency, long-poll wake latency.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var commits = IntArg(args, "--commits", 40_000);
        var clients = IntArg(args, "--clients", 128);
        var fsync = !args.Contains("--no-fsync");
        await using var node = await BenchMetadataNode.StartAsync("md-bench-", LogLevel.Warning, syncWrites: fsync);
        var url = node.Url;
        var store = node.Store;
        var channels = Enumerable.Range(0, 4).Select(_ => GrpcChannel.ForAddress(url, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        })).ToArray();

        // A node that answers: a commit of freshly uploaded chunks asks it whether it holds them.
        using var standIn = await StandInStorageNode.StartAsync();
        var cluster = await node.RegisterNodeAsync(channels[0], standIn.Url);
        using var stopBeats = new CancellationTokenSource();
        var beats = BenchMetadataNode.KeepAliveAsync(cluster, stopBeats.Token);

        Console.WriteLine($"metadata-load: {commits} commits of 1-chunk files, {clients} concurrent clients, fsync={(fsync ? "group commit" : "off")}, {Environment.ProcessorCount} cores");
        var users = Enumerable.Range(0, 8).Select(i => store.AddUser("u" + i)).ToArray();
        var syncs = users.Select((u, i) => new Sync.SyncClient(channels[i % channels.Length])).ToArray();
        var headers = users.Select(u => new Grpc.Core.Metadata { { "authorization", "Bearer " + u.Token } }).ToArray();

        // Pre-confirm every chunk as the storage node would after the puts.
        var chunks = Enumerable.Range(0, commits).Select(i => Chunk(i)).ToArray();
        for (var start = 0; start < commits; start += 10_000)
        {
            var report = new ReportChunksStoredRequest { NodeId = "bench-node" };
            for (var i = start; i < Math.Min(commits, start + 10_000); i++)
            {
                report.Chunks.Add(new StoredChunk { ChunkId = chunks[i].Id, Size = chunks[i].Size, StoredSize = chunks[i].StoredSize, NamespaceId = users[i % users.Length].User.Namespace.Value });
            }

            await cluster.ReportChunksStoredAsync(report);
        }

        // Baseline: the cheapest authenticated call, to show what the gRPC stack alone costs on this machine.
        var baseline = Math.Min(20_000, commits);
        var baseNext = -1;
        var bcpu = Cpu();
        var bsw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref baseNext) < baseline)
            {
                await syncs[baseNext % syncs.Length].GetAccountAsync(new GetAccountRequest(), headers[baseNext % syncs.Length]);
            }
        })));
        bsw.Stop();
        var baselineLine = $"| GetAccount (gRPC baseline, no store write), {clients} clients | {baseline / bsw.Elapsed.TotalSeconds:N0} calls/s; {CpuPer(bcpu, baseline)} |";

        // Warm-up, then the measured run.
        await CommitAllAsync(syncs, headers, chunks, 0, Math.Min(2000, commits / 10), clients, "warm");
        var first = Math.Min(2000, commits / 10);
        var ccpu = Cpu();
        var sw = Stopwatch.StartNew();
        var latencies = await CommitAllAsync(syncs, headers, chunks, first, commits, clients, "f");
        sw.Stop();
        var done = commits - first;
        Console.WriteLine();
        Console.WriteLine("| measurement | result |");
        Console.WriteLine("|---|---|");
        Console.WriteLine(baselineLine);
        Console.WriteLine($"| CommitFile, 1-chunk files, {clients} clients | {done / sw.Elapsed.TotalSeconds:N0} commits/s ({done} in {sw.Elapsed.TotalSeconds:N2} s); latency p50 {P(latencies, 50):N1} ms, p99 {P(latencies, 99):N1} ms; {CpuPer(ccpu, done)} |");

        // The same kind of commits through the batch API: 100 files per CommitFiles call.
        var batched = commits;
        var batchChunks = Enumerable.Range(0, batched).Select(i => Chunk(30_000_000 + i)).ToArray();
        for (var start = 0; start < batched; start += 10_000)
        {
            var report = new ReportChunksStoredRequest { NodeId = "bench-node" };
            for (var i = start; i < Math.Min(batched, start + 10_000); i++)
            {
                report.Chunks.Add(new StoredChunk { ChunkId = batchChunks[i].Id, Size = batchChunks[i].Size, StoredSize = batchChunks[i].StoredSize, NamespaceId = users[(i / 100) % users.Length].User.Namespace.Value });
            }

            await cluster.ReportChunksStoredAsync(report);
        }

        const int perCall = 100;
        var batchNext = -1;
        var batchLatencies = new List<double>();
        var mcpu = Cpu();
        var bsw2 = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Math.Max(1, clients / 8)).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var b = Interlocked.Increment(ref batchNext);
                if (b * perCall >= batched)
                {
                    return;
                }

                var request = new CommitFilesRequest();
                for (var i = b * perCall; i < Math.Min(batched, (b + 1) * perCall); i++)
                {
                    request.Files.Add(new CommitFileRequest { Path = $"batch/{i}", Size = batchChunks[i].Size, Chunks = { batchChunks[i] }, Device = "bench" });
                }

                var t = Stopwatch.GetTimestamp();
                var response = await syncs[b % syncs.Length].CommitFilesAsync(request, headers[b % syncs.Length]);
                lock (batchLatencies)
                {
                    batchLatencies.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }

                if (response.Results.Any(r => r.StatusCode != 0))
                {
                    throw new InvalidOperationException("a batched commit was refused: " + response.Results.First(r => r.StatusCode != 0).ErrorMessage);
                }
            }
        })));
        bsw2.Stop();
        Console.WriteLine($"| CommitFiles, 1-chunk files, {perCall} per call, {Math.Max(1, clients / 8)} callers | {batched / bsw2.Elapsed.TotalSeconds:N0} commits/s ({batched} in {bsw2.Elapsed.TotalSeconds:N2} s); call latency p50 {P(batchLatencies, 50):N1} ms, p99 {P(batchLatencies, 99):N1} ms; {CpuPer(mcpu, batched)} |");

        // Plans of new 1-chunk files (each chunk missing: noted and signed), one file per PlanUpload call against 100 per
        // PlanUploads call, as a client uploading a folder of small files sends them.
        var plans = Math.Min(commits, 10_000);
        foreach (var perPlan in new[] { 1, 100 })
        {
            var planChunks = Enumerable.Range(0, plans).Select(i => Chunk((perPlan == 1 ? 50_000_000 : 60_000_000) + i)).ToArray();
            var planNext = -1;
            var pcpu = Cpu();
            var psw = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, perPlan == 1 ? clients : Math.Max(1, clients / 8)).Select(_ => Task.Run(async () =>
            {
                while (true)
                {
                    var b = Interlocked.Increment(ref planNext);
                    if (b * perPlan >= plans)
                    {
                        return;
                    }

                    var u = b % syncs.Length;
                    if (perPlan == 1)
                    {
                        await syncs[u].PlanUploadAsync(new PlanUploadRequest { Path = $"plan/{b}", Size = planChunks[b].Size, Chunks = { planChunks[b] } }, headers[u]);
                        continue;
                    }

                    var request = new PlanUploadsRequest();
                    for (var i = b * perPlan; i < Math.Min(plans, (b + 1) * perPlan); i++)
                    {
                        request.Files.Add(new PlanUploadRequest { Path = $"plans/{i}", Size = planChunks[i].Size, Chunks = { planChunks[i] } });
                    }

                    var answer = await syncs[u].PlanUploadsAsync(request, headers[u]);
                    if (answer.Results.Any(r => r.Missing.Count != 1))
                    {
                        throw new InvalidOperationException("a batched plan did not ask for its new chunk");
                    }
                }
            })));
            psw.Stop();
            Console.WriteLine(perPlan == 1
                ? $"| PlanUpload, new 1-chunk files, one per call, {clients} clients | {plans / psw.Elapsed.TotalSeconds:N0} files/s ({plans} in {psw.Elapsed.TotalSeconds:N2} s); {CpuPer(pcpu, plans)} |"
                : $"| PlanUploads, new 1-chunk files, {perPlan} per call, {Math.Max(1, clients / 8)} callers | {plans / psw.Elapsed.TotalSeconds:N0} files/s ({plans} in {psw.Elapsed.TotalSeconds:N2} s); {CpuPer(pcpu, plans)} |");
        }

        // The same commits straight into the store (no gRPC), to separate the store's cost from the wire's.
        var direct = Math.Min(20_000, commits);
        var directChunks = Enumerable.Range(0, direct).Select(i => Chunk(20_000_000 + i)).ToArray();
        var directReport = new ReportChunksStoredRequest { NodeId = "bench-node" };
        directReport.Chunks.AddRange(directChunks.Select((c, i) => new StoredChunk { ChunkId = c.Id, Size = c.Size, StoredSize = c.StoredSize, NamespaceId = users[i % users.Length].User.Namespace.Value }));
        store.ReportChunksStored(directReport);
        var directNext = -1;
        var dcpu = Cpu();
        var dsw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var i = Interlocked.Increment(ref directNext);
                if (i >= direct)
                {
                    return;
                }

                var user = users[i % users.Length].User;
                var upload = FileUpload.Create($"direct/{i}", directChunks[i].Size, 0, [directChunks[i].ToDomain()], 0, "bench");
                await store.CommitAsync(user, upload, CancellationToken.None);
            }
        })));
        dsw.Stop();
        Console.WriteLine($"| MetadataStore.CommitAsync in process (no gRPC), {clients} tasks | {direct / dsw.Elapsed.TotalSeconds:N0} commits/s; {CpuPer(dcpu, direct)} |");

        // ListChanges of 1,000 entries: user 0 has commits/8 changes.
        var reader = new Sync.SyncClient(channels[0].Intercept(m => { m.Add("authorization", "Bearer " + users[0].Token); return m; }));
        var all = new List<string>();
        var cursor = string.Empty;
        for (var page = 0; page < 1000; page++)
        {
            var r = await reader.ListChangesAsync(new ListChangesRequest { Cursor = cursor, Limit = 1000 });
            all.Add(cursor);
            cursor = r.Cursor;
            if (!r.HasMore)
            {
                break;
            }
        }

        var list = new List<double>();
        var pages = all.Take(Math.Max(1, all.Count - 1)).ToArray();
        for (var i = 0; i < 300; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var r = await reader.ListChangesAsync(new ListChangesRequest { Cursor = pages[i % pages.Length], Limit = 1000 });
            list.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (r.Changes.Count != 1000)
            {
                throw new InvalidOperationException($"expected 1000 changes, got {r.Changes.Count}");
            }
        }

        Console.WriteLine($"| ListChanges, 1,000 entries per call (300 calls) | p50 {P(list, 50):N2} ms, p99 {P(list, 99):N2} ms |");

        // Long poll: a reader on its own channel waits; another client commits; time from commit start to the reader's answer.
        using var readerChannel = GrpcChannel.ForAddress(url);
        var poller = new Sync.SyncClient(readerChannel.Intercept(m => { m.Add("authorization", "Bearer " + users[1].Token); return m; }));
        var writer = new Sync.SyncClient(channels[1].Intercept(m => { m.Add("authorization", "Bearer " + users[1].Token); return m; }));
        var head = (await poller.ListChangesAsync(new ListChangesRequest { Cursor = string.Empty, Limit = 1 })).Cursor;
        head = (await poller.GetAccountAsync(new GetAccountRequest())).Cursor;
        var wakes = new List<double>();
        for (var i = 0; i < 100; i++)
        {
            var poll = poller.ListChangesAsync(new ListChangesRequest { Cursor = head, WaitSeconds = 30 }).ResponseAsync;
            await Task.Delay(5); // let the poll reach the server and park
            var extra = Chunk(10_000_000 + i);
            await cluster.ReportChunksStoredAsync(new ReportChunksStoredRequest { NodeId = "bench-node", Chunks = { new StoredChunk { ChunkId = extra.Id, Size = extra.Size, StoredSize = extra.StoredSize, NamespaceId = users[1].User.Namespace.Value } } });
            var t = Stopwatch.GetTimestamp();
            _ = writer.CommitFileAsync(new CommitFileRequest { Path = $"poll/{i}", Size = extra.Size, Chunks = { extra } });
            var response = await poll;
            wakes.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            head = response.Cursor;
        }

        Console.WriteLine($"| Long poll: commit by another client -> waiting ListChanges answers (100 rounds) | p50 {P(wakes, 50):N2} ms, p99 {P(wakes, 99):N2} ms |");
        await stopBeats.CancelAsync();
        await beats;
        foreach (var channel in channels)
        {
            channel.Dispose();
        }

        await node.StopAsync();
        return 0;
    }

    private static async Task<List<double>> CommitAllAsync(Sync.SyncClient[] syncs, Grpc.Core.Metadata[] headers, Proto.ChunkRef[] chunks, int from, int to, int clients, string prefix)
    {
        var next = from - 1;
        var latencies = new List<double>[clients];
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = [];
            while (true)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= to)
                {
                    return;
                }

                var client = syncs[i % syncs.Length];
                var chunk = chunks[i];
                var t = Stopwatch.GetTimestamp();
                await client.CommitFileAsync(new CommitFileRequest { Path = $"{prefix}/{i}", Size = chunk.Size, Chunks = { chunk }, Device = "bench" }, headers[i % syncs.Length]);
                mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
        })));
        return latencies.SelectMany(l => l).ToList();
    }

    private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

    /// <summary>
    /// CPU time of this process (server and clients together) per operation, and the rate that would give
    /// on every core of this machine: a figure that other load on a shared machine does not distort.
    /// </summary>
    private static string CpuPer(TimeSpan before, int operations)
    {
        var perOp = (Cpu() - before).TotalMicroseconds / operations;
        return $"{perOp:N0} µs CPU/op (client+server) = {Environment.ProcessorCount * 1_000_000 / perOp:N0}/s on {Environment.ProcessorCount} idle cores";
    }

    internal static Proto.ChunkRef Chunk(int seed) =>
        new() { Id = Google.Protobuf.ByteString.CopyFrom(SHA256.HashData(BitConverter.GetBytes(seed))), Size = 4096, StoredSize = 4096 };

    internal static double P(List<double> values, int percentile)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1)];
    }

    internal static int IntArg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : fallback;
    }
}
