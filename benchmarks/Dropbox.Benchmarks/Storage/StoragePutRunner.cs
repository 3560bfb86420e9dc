using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Dropbox.Benchmarks.Storage;

/// <summary>
/// Put throughput of 1 MiB random chunks over loopback gRPC from this (second) process into a storage node child
/// process, side by side with <c>dd ... conv=fdatasync</c> of the same bytes to the same disk.
/// Usage: <c>storage-put [--count N] [--streams S] [--rounds R] [--dir DIR]</c>.
/// </summary>
public static class StoragePutRunner
{
    private const int ChunkSize = 1024 * 1024;
    private const string NodeId = "bench-node";

    /// <summary>Runs the comparison and prints a table.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var count = IntArg(args, "--count", 1024);
        var streams = IntArg(args, "--streams", 4);
        var rounds = IntArg(args, "--rounds", 3);
        var warmCount = IntArg(args, "--warm", 512);
        var root = StringArg(args, "--dir") ?? Path.Combine(Path.GetTempPath(), "dbx-bench-put-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var keys = Path.Combine(root, "keys");
            var tokens = ChunkTokenService.ForKeyDirectory(keys);
            tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, NodeId, Array.Empty<ChunkId>(), TimeSpan.FromMinutes(1));

            Console.WriteLine($"storage-put: {count} x 1 MiB random chunks per round, {streams} concurrent PutChunks streams, {rounds} rounds, dir {root}");
            var ddMbs = new List<double>();
            var putMbs = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                // Fresh random chunks each round: nothing deduplicates.
                var chunks = MakeChunks(count, round);
                ddMbs.Add(await RunDdAsync(root, chunks, round).ConfigureAwait(false));
                putMbs.Add(await RunPutAsync(root, keys, tokens, chunks, streams, round, warmCount).ConfigureAwait(false));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}: dd conv=fdatasync {ddMbs[^1],8:F1} MB/s   gRPC put {putMbs[^1],8:F1} MB/s   ratio {putMbs[^1] / ddMbs[^1],6:P0}"));
            }

            var dd = Median(ddMbs);
            var put = Median(putMbs);
            Console.WriteLine();
            Console.WriteLine("| what | MB/s (median) |");
            Console.WriteLine("|---|---|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| dd bs=1M conv=fdatasync | {dd:F1} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| gRPC PutChunks 1 MiB chunks (2nd process) | {put:F1} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| ratio put/dd | {put / dd:P0} (target >= 70%) |"));
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static List<(ChunkId Id, byte[] Bytes)> MakeChunks(int count, int round)
    {
        var chunks = new List<(ChunkId, byte[])>(count);
        for (var i = 0; i < count; i++)
        {
            var bytes = new byte[ChunkSize];
            RandomNumberGenerator.Fill(bytes);
            chunks.Add((ChunkId.Compute(bytes), bytes));
        }

        _ = round;
        return chunks;
    }

    private static async Task<double> RunDdAsync(string root, List<(ChunkId Id, byte[] Bytes)> chunks, int round)
    {
        var source = Path.Combine(root, $"dd-src-{round}");
        var target = Path.Combine(root, $"dd-out-{round}");
        await using (var file = new FileStream(source, FileMode.Create))
        {
            foreach (var (_, bytes) in chunks)
            {
                await file.WriteAsync(bytes).ConfigureAwait(false);
            }
        }

        var info = new ProcessStartInfo("dd") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { $"if={source}", $"of={target}", "bs=1M", $"count={chunks.Count}", "conv=fdatasync" })
        {
            info.ArgumentList.Add(arg);
        }

        var watch = Stopwatch.StartNew();
        using (var dd = Process.Start(info)!)
        {
            var stderr = dd.StandardError.ReadToEndAsync();
            await dd.WaitForExitAsync().ConfigureAwait(false);
            watch.Stop();
            if (dd.ExitCode != 0)
            {
                throw new InvalidOperationException("dd failed: " + await stderr.ConfigureAwait(false));
            }
        }

        File.Delete(source);
        File.Delete(target);
        return chunks.Count * (double)ChunkSize / 1e6 / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> RunPutAsync(string root, string keys, ChunkTokenService tokens, List<(ChunkId Id, byte[] Bytes)> chunks, int streams, int round, int warmCount)
    {
        var data = Path.Combine(root, $"node-{round}");
        using var node = await NodeProcess.StartAsync(data, keys, NodeId).ConfigureAwait(false);
        using var channel = GrpcChannel.ForAddress(node.GrpcUrl, new GrpcChannelOptions { MaxSendMessageSize = 4 << 20 });
        var client = new ChunkStorage.ChunkStorageClient(channel);

        // Warm up the connection and the node's JIT (tiered compilation reaches its final code only after a few
        // thousand calls; a storage node runs for days) with chunks that are not measured, on as many streams.
        var warm = MakeChunks(warmCount, -1);
        var warmPer = (warm.Count + streams - 1) / streams;
        await Task.WhenAll(Enumerable.Range(0, streams).Select(s =>
            PutAsync(client, tokens, warm, s * warmPer, Math.Min(warm.Count, (s + 1) * warmPer)))).ConfigureAwait(false);

        var prepared = chunks.Select(c => tokens.Issue(TokenOperation.Put, "bench", NodeId, new[] { c.Id }, TimeSpan.FromMinutes(30))).ToArray();
        var per = (chunks.Count + streams - 1) / streams;
        var nodeCpu = node.Cpu;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        Console.WriteLine($"  put: measuring (node pid {node.Pid})");
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(s =>
            PutAsync(client, prepared, chunks, s * per, Math.Min(chunks.Count, (s + 1) * per)))).ConfigureAwait(false);
        watch.Stop();
        var mib = chunks.Count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  CPU per MiB: node {(node.Cpu - nodeCpu).TotalMilliseconds / mib:F2} ms, client {(Process.GetCurrentProcess().TotalProcessorTime - clientCpu).TotalMilliseconds / mib:F2} ms; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
        Directory.Delete(data, recursive: true);
        return chunks.Count * (double)ChunkSize / 1e6 / watch.Elapsed.TotalSeconds;
    }

    private static Task PutAsync(ChunkStorage.ChunkStorageClient client, ChunkTokenService tokens, List<(ChunkId Id, byte[] Bytes)> chunks, int from, int to) =>
        PutAsync(client, chunks.Select(c => tokens.Issue(TokenOperation.Put, "bench", NodeId, new[] { c.Id }, TimeSpan.FromMinutes(30))).ToArray(), chunks, from, to);

    private static async Task PutAsync(ChunkStorage.ChunkStorageClient client, string[] tokens, List<(ChunkId Id, byte[] Bytes)> chunks, int from, int to)
    {
        if (from >= to)
        {
            return;
        }

        using var call = client.PutChunks();
        for (var i = from; i < to; i++)
        {
            var (id, bytes) = chunks[i];
            await call.RequestStream.WriteAsync(new PutChunkRequest
            {
                Header = new ChunkHeader { ChunkId = id.ToByteString(), PlainSize = (uint)bytes.Length, StoredSize = (uint)bytes.Length, Token = tokens[i] },
            }).ConfigureAwait(false);
            await call.RequestStream.WriteAsync(new PutChunkRequest { Data = UnsafeByteOperations.UnsafeWrap(bytes) }).ConfigureAwait(false);
        }

        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        var response = await call;
        if (response.Results.Count != to - from)
        {
            throw new InvalidOperationException($"Expected {to - from} results, got {response.Results.Count}.");
        }
    }

    internal static int IntArg(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    internal static string? StringArg(string[] args, string name)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    internal static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
