using System.Security.Cryptography;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Cluster;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Xunit.Abstractions;
using Proto = Dropbox.Shared.Protos.Common;

// Not "...Metadata": that namespace would shadow Grpc.Core.Metadata for every sibling test folder.
namespace Dropbox.IntegrationTests.MetadataNodeTests;

/// <summary>
/// The metadata node as a real process, killed with SIGKILL while calls are in flight, then reopened: the
/// store must be consistent (no half change) and every acknowledged change must be there.
/// </summary>
public sealed class MetadataCrashTests : IDisposable
{
    private const string StorageNodeId = "standin-1";
    private readonly TempFolder _dir = new();
    private readonly ITestOutputHelper _output;

    public MetadataCrashTests(ITestOutputHelper output) => _output = output;

    [Fact]
    [Trait("Category", "Slow")]
    public async Task KilledMidTraffic_ReopensConsistent_WithEveryAcknowledgedChange()
    {
        var data = _dir.Sub("db");
        var keys = _dir.Sub("keys");
        var tokens = ChunkTokenService.ForKeyDirectory(keys);
        var systemToken = tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, "metadata", [], TimeSpan.FromHours(1)); // creates the shared key
        await using var storage = await FakeStorageNode.StartAsync(StorageNodeId, tokens);

        var (exit, stdout, stderr) = await MetadataProcess.RunVerbAsync("user", "add", "alice", "--data", data);
        Assert.True(exit == 0, stderr);
        var userToken = stdout.Split('\n').Single(l => l.StartsWith("token: ", StringComparison.Ordinal))["token: ".Length..].Trim();

        var acknowledged = new HashSet<ulong>();
        var random = new Random(7);
        for (var round = 0; round < 3; round++)
        {
            using var server = await MetadataProcess.StartServerAsync(data, keys);
            using var channel = GrpcChannel.ForAddress(server.Url);
            var cluster = new Cluster.ClusterClient(channel.Intercept(m => { m.Add("authorization", "Bearer " + systemToken); return m; }));
            var sync = new Sync.SyncClient(channel.Intercept(m => { m.Add("authorization", "Bearer " + userToken); return m; }));
            await cluster.RegisterNodeAsync(new RegisterNodeRequest { NodeId = StorageNodeId, GrpcUrl = storage.Url, HttpUrl = storage.Url });

            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, 4).Select(w => Task.Run(() => WorkAsync(sync, cluster, storage, tokens, round * 10 + w, acknowledged, stop.Token))).ToArray();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (Volatile.Read(ref _operations) < (round + 1) * 60 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            await Task.Delay(random.Next(0, 50)); // kill at an arbitrary point of the traffic
            server.Kill();
            stop.Cancel();
            await Task.WhenAll(workers);
            _output.WriteLine($"round {round}: killed after {Volatile.Read(ref _operations)} acknowledged operations in total");
        }

        using var store = OpenOffline(data, keys);
        Assert.Empty(store.CheckConsistency());
        var user = store.Authenticate(userToken);
        var all = await store.ListChangesAsync(user, null, 10_000, 0, CancellationToken.None);
        var sequences = all.Changes.Select(c => c.Sequence).ToHashSet();
        lock (acknowledged)
        {
            Assert.NotEmpty(acknowledged);
            Assert.Subset(sequences, acknowledged);
        }
    }

    private int _operations;

    private async Task WorkAsync(Sync.SyncClient sync, Cluster.ClusterClient cluster, FakeStorageNode storage, ChunkTokenService tokens, int seed, HashSet<ulong> acknowledged, CancellationToken stop)
    {
        var rnd = new Random(seed);
        for (var i = 0; i < 10_000 && !stop.IsCancellationRequested; i++)
        {
            try
            {
                var path = $"w{seed % 10}/f{rnd.Next(8)}";
                ulong sequence;
                if (rnd.Next(5) == 0)
                {
                    sequence = (await sync.MoveFileAsync(new MoveFileRequest { FromPath = path, ToPath = path + "-m" + i }, cancellationToken: stop)).Sequence;
                }
                else
                {
                    var chunks = Enumerable.Range(0, 1 + rnd.Next(3)).Select(_ => Chunk(rnd.Next(40))).DistinctBy(c => c.Id).ToList();
                    var size = (ulong)chunks.Sum(c => (long)c.Size);
                    var plan = await sync.PlanUploadAsync(new PlanUploadRequest { Path = path, Size = size, Chunks = { chunks } }, cancellationToken: stop);
                    var report = new ReportChunksStoredRequest { NodeId = StorageNodeId };
                    foreach (var put in plan.Missing)
                    {
                        storage.Chunks[put.ChunkId.ToChunkId()] = true;
                        var ns = tokens.Read(put.Token).Namespace; // the real node takes the namespace from the put token
                        report.Chunks.Add(new StoredChunk { ChunkId = put.ChunkId, Size = 100, StoredSize = 100, NamespaceId = ns });
                    }

                    if (report.Chunks.Count > 0)
                    {
                        await cluster.ReportChunksStoredAsync(report, cancellationToken: stop);
                    }

                    var commit = await sync.CommitFileAsync(new CommitFileRequest { Path = path, Size = size, Chunks = { chunks }, BaseVersion = plan.CurrentVersion }, cancellationToken: stop);
                    sequence = commit.Sequence;
                }

                lock (acknowledged)
                {
                    acknowledged.Add(sequence);
                }

                Interlocked.Increment(ref _operations);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.NotFound or StatusCode.FailedPrecondition or StatusCode.AlreadyExists)
            {
            }
            catch (RpcException)
            {
                return; // the server is gone
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static Proto.ChunkRef Chunk(int seed) =>
        new() { Id = Google.Protobuf.ByteString.CopyFrom(SHA256.HashData(BitConverter.GetBytes(seed))), Size = 100, StoredSize = 100 };

    private static MetadataStore OpenOffline(string data, string keys)
    {
        var tokens = ChunkTokenService.ForKeyDirectory(keys);
        var options = new MetadataNodeOptions { DataDirectory = data, KeysDirectory = keys, SyncWrites = false };
        return MetadataStore.Open(options, tokens, new GrpcStorageNodeGateway(tokens));
    }

    public void Dispose() => _dir.Dispose();
}
