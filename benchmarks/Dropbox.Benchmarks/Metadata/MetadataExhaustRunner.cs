using System.Diagnostics;
using System.Security.Cryptography;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// One user's exhaustion attack against another's latency, over gRPC on loopback. Measures user B's PlanUpload
/// (200 new chunks a plan) alone, then while user A runs every attack the per-user bounds leave open, in a bounded
/// loop: pending puts up to the limit (and past it, refused), the largest plans over and over, and every long poll
/// allowed (and more, refused). Prints p50/p99 of both phases and their ratio; asserts nothing.
/// <c>dotnet run -c Release --project benchmarks/Dropbox.Benchmarks -- metadata-exhaust [--plans N] [--attackers N]</c>
/// </summary>
public static class MetadataExhaustRunner
{
    private const int VictimChunks = 200;

    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    /// <summary>Runs the baseline, then the attack, and prints the table.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var plans = MetadataLoadRunner.IntArg(args, "--plans", 1000);
        var attackers = MetadataLoadRunner.IntArg(args, "--attackers", 8);
        await using var node = await BenchMetadataNode.StartAsync("md-exhaust-", LogLevel.Error);
        var url = node.Url;
        var store = node.Store;

        // Each user on its own connection, as on its own machine.
        using var victimChannel = GrpcChannel.ForAddress(url);
        using var attackChannel = GrpcChannel.ForAddress(url, new GrpcChannelOptions { MaxReceiveMessageSize = 64 * 1024 * 1024, MaxSendMessageSize = 64 * 1024 * 1024 });
        using var standIn = await StandInStorageNode.StartAsync(); // a node that answers the commits' checks
        var cluster = await node.RegisterNodeAsync(victimChannel, standIn.Url);
        var (victimUser, victimToken) = store.AddUser("victim");
        var (attackerUser, attackerToken) = store.AddUser("attacker");
        var victim = new Sync.SyncClient(victimChannel);
        var victimHeaders = new Grpc.Core.Metadata { { "authorization", "Bearer " + victimToken } };
        var attackHeaders = new Grpc.Core.Metadata { { "authorization", "Bearer " + attackerToken } };
        var sync = new Sync.SyncClient(attackChannel);

        // The (stand-in) storage node's heartbeat: plans need a live node, and a run on a loaded machine is long.
        using var heartbeats = new CancellationTokenSource();
        var heartbeat = Task.Run(async () =>
        {
            while (!heartbeats.IsCancellationRequested)
            {
                await cluster.HeartbeatAsync(new HeartbeatRequest { NodeId = BenchMetadataNode.NodeId });
                await Task.Delay(TimeSpan.FromSeconds(5), heartbeats.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        });

        Console.WriteLine($"metadata-exhaust: victim plans of {VictimChunks} new chunks, {plans} per phase; attacker: {attackers} concurrent maximal plans, pending puts to the limit, every long poll; {Environment.ProcessorCount} cores");
        var seed = 0;
        await VictimPlansAsync(victim, victimHeaders, cluster, victimUser, 30, () => seed++); // warm-up
        var alone = await VictimPlansAsync(victim, victimHeaders, cluster, victimUser, plans, () => seed++);

        // The attack: pre-serialized maximal plans, answers not even parsed (the attacker wants to cost, not to use).
        using var stop = new CancellationTokenSource();
        var stats = new AttackStats();
        var invoker = attackChannel.CreateCallInvoker();
        var planMethod = new Method<byte[], byte[]>(MethodType.Unary, "dropbox.metadata.v1.Sync", "PlanUpload", Raw, Raw);
        var perPlan = Limits.MaxChunksPerFile / 2;
        var floods = Enumerable.Range(0, (Limits.MaxPendingPutsPerUser / perPlan) + 2)
            .Select(p => PlanBytes($"flood/{p}", 1_000_000_000 + (p * perPlan), perPlan))
            .ToList();
        var maximal = PlanBytes("maximal", 1_000_000_000, Limits.MaxChunksPerFile); // the first floods' chunks, all at once
        var attack = new List<Task>
        {
            // Pending puts: up to the limit, then past it (refused), in a loop.
            Task.Run(async () =>
            {
                for (var round = 0; round < 10_000 && !stop.IsCancellationRequested; round++)
                {
                    await AttackCallAsync(invoker, planMethod, attackHeaders, floods[round % floods.Count], stats, stop.Token);
                }
            }),
        };

        // The largest plans, re-planned over and over (the chunks stay pending: each costs a full plan's signing).
        attack.AddRange(Enumerable.Range(0, attackers).Select(a => Task.Run(async () =>
        {
            for (var round = 0; round < 10_000 && !stop.IsCancellationRequested; round++)
            {
                await AttackCallAsync(invoker, planMethod, attackHeaders, maximal, stats, stop.Token);
            }
        })));

        // Every long poll the account may hold, and more (refused).
        attack.AddRange(Enumerable.Range(0, Limits.MaxLongPollsPerUser + 8).Select(_ => Task.Run(async () =>
        {
            for (var round = 0; round < 1000 && !stop.IsCancellationRequested; round++)
            {
                try
                {
                    await sync.ListChangesAsync(new ListChangesRequest { WaitSeconds = 300 }, attackHeaders, cancellationToken: stop.Token);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
                {
                    Interlocked.Increment(ref stats.LongPollsRefused);
                    await Task.Delay(50, stop.Token);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
                {
                    return;
                }
            }
        })));

        // Let the attack reach the pending-put limit before measuring.
        var filled = Stopwatch.StartNew();
        while (store.PendingPutCount(attackerUser) < Limits.MaxPendingPutsPerUser - perPlan && filled.Elapsed < TimeSpan.FromMinutes(5))
        {
            await Task.Delay(100);
        }

        var fillSeconds = filled.Elapsed.TotalSeconds;
        var attackedFrom = Stopwatch.StartNew();
        var attacked = await VictimPlansAsync(victim, victimHeaders, cluster, victimUser, plans, () => seed++);
        var attackSeconds = attackedFrom.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        try
        {
            await Task.WhenAll(attack);
        }
        catch (OperationCanceledException)
        {
        }

        await heartbeats.CancelAsync();
        await heartbeat;
        Console.WriteLine();
        Console.WriteLine($"load average during the run (other processes share this machine): {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"the attacker filled its pending puts in {fillSeconds:N1} s");
        Console.WriteLine("| phase | victim PlanUpload (200 chunks) p50 | p99 |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| alone | {MetadataLoadRunner.P(alone, 50):N1} ms | {MetadataLoadRunner.P(alone, 99):N1} ms |");
        Console.WriteLine($"| under attack | {MetadataLoadRunner.P(attacked, 50):N1} ms | {MetadataLoadRunner.P(attacked, 99):N1} ms |");
        Console.WriteLine($"| ratio | {MetadataLoadRunner.P(attacked, 50) / MetadataLoadRunner.P(alone, 50):N2}x | {MetadataLoadRunner.P(attacked, 99) / MetadataLoadRunner.P(alone, 99):N2}x |");
        Console.WriteLine();
        Console.WriteLine($"attacker during the measured {attackSeconds:N1} s and before: {stats.PlansServed} plans of {perPlan}-{Limits.MaxChunksPerFile} chunks served, {stats.PlansRefused} refused (RESOURCE_EXHAUSTED), " +
            $"{stats.LongPollsRefused} long polls refused beyond {Limits.MaxLongPollsPerUser} held; pending puts at the end: {store.PendingPutCount(attackerUser)} (limit {Limits.MaxPendingPutsPerUser})");
        return 0;
    }

    private static async Task<List<double>> VictimPlansAsync(Sync.SyncClient victim, Grpc.Core.Metadata headers, Cluster.ClusterClient node, UserInfo user, int count, Func<int> nextSeed)
    {
        var latencies = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var s = nextSeed();
            var request = new PlanUploadRequest { Path = $"v/{s}", Size = VictimChunks * 4096UL };
            for (var c = 0; c < VictimChunks; c++)
            {
                request.Chunks.Add(Chunk((s * VictimChunks) + c));
            }

            var t = Stopwatch.GetTimestamp();
            var response = await victim.PlanUploadAsync(request, headers);
            latencies.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (response.Missing.Count != VictimChunks)
            {
                throw new InvalidOperationException($"the victim's plan asked for {response.Missing.Count} chunks, not {VictimChunks}");
            }

            // The victim uploads what it planned (untimed): the node reports it, so its own pending puts stay few.
            var report = new ReportChunksStoredRequest { NodeId = BenchMetadataNode.NodeId };
            report.Chunks.AddRange(request.Chunks.Select(c => new StoredChunk { ChunkId = c.Id, Size = c.Size, StoredSize = c.StoredSize, NamespaceId = user.Namespace.Value }));
            await node.ReportChunksStoredAsync(report);
        }

        return latencies;
    }

    private static async Task AttackCallAsync(CallInvoker invoker, Method<byte[], byte[]> method, Grpc.Core.Metadata headers, byte[] request, AttackStats stats, CancellationToken ct)
    {
        try
        {
            await invoker.AsyncUnaryCall(method, null, new CallOptions(headers, cancellationToken: ct), request).ResponseAsync;
            Interlocked.Increment(ref stats.PlansServed);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
        {
            Interlocked.Increment(ref stats.PlansRefused);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
        }
    }

    private static byte[] PlanBytes(string path, int firstSeed, int count)
    {
        var request = new PlanUploadRequest { Path = path, Size = (ulong)count * 4096 };
        for (var i = 0; i < count; i++)
        {
            request.Chunks.Add(Chunk(firstSeed + i));
        }

        return request.ToByteArray();
    }

    private static Proto.ChunkRef Chunk(int seed) =>
        new() { Id = ByteString.CopyFrom(SHA256.HashData(BitConverter.GetBytes(seed))), Size = 4096, StoredSize = 4096 };

    private sealed class AttackStats
    {
        public int PlansServed;
        public int PlansRefused;
        public int LongPollsRefused;
    }
}
