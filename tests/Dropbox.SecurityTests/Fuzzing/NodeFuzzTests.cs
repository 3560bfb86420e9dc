using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>
/// The seeded mutation fuzzer over every request message of both nodes (see <see cref="Fuzzer"/>). The default run is
/// CI-sized (10,000 cases per node, fixed seed); the Long variants run 100,000 cases per node with a fresh seed each run.
/// Any failure prints FUZZ_SEED (and the case index) to replay it.
/// </summary>
public sealed class NodeFuzzTests(ITestOutputHelper output)
{
    private const int CiSeed = 20261201;
    private const int CiCases = 10_000;
    private const int LongCases = 100_000;

    [Fact]
    public Task The_metadata_node_answers_ten_thousand_mutated_requests_without_unknown_internal_or_a_logged_exception() =>
        FuzzMetadataAsync(FuzzOptions.FromEnvironment(CiSeed, CiCases));

    [Fact]
    public Task The_storage_node_answers_ten_thousand_mutated_requests_without_unknown_internal_or_a_logged_exception() =>
        FuzzStorageAsync(FuzzOptions.FromEnvironment(CiSeed, CiCases));

    [Fact]
    [Trait("Category", "Long")]
    public Task Long_metadata_fuzz_with_a_fresh_seed() =>
        FuzzMetadataAsync(FuzzOptions.FromEnvironment(Environment.TickCount, LongCases));

    [Fact]
    [Trait("Category", "Long")]
    public Task Long_storage_fuzz_with_a_fresh_seed() =>
        FuzzStorageAsync(FuzzOptions.FromEnvironment(Environment.TickCount, LongCases));

    [Fact]
    public async Task Every_rpc_of_both_nodes_has_fuzz_seeds()
    {
        await using var app = await Appliance.StartAsync();

        var metadata = await FuzzTargets.MetadataAsync(app);
        var storage = await FuzzTargets.StorageAsync(app);

        var covered = metadata.Targets.Concat(storage.Targets).Select(t => t.Method.FullName).ToHashSet();
        var all = new[] { Sync.Descriptor, Dropbox.Shared.Protos.Metadata.Cluster.Descriptor, ChunkStorage.Descriptor, Replication.Descriptor, StoreSnapshots.Descriptor }.SelectMany(s => s.Methods).Select(m => m.FullName).ToList();
        Assert.All(all, m => Assert.Contains(m, covered));
        Assert.All(metadata.Targets.Concat(storage.Targets), t => Assert.NotEmpty(t.Seeds));
    }

    private async Task FuzzMetadataAsync(FuzzOptions options)
    {
        await using var app = await Appliance.StartAsync(o => o with { EventWait = TimeSpan.FromMilliseconds(500) });
        var plan = await FuzzTargets.MetadataAsync(app);
        var probe = 0;
        var fuzzer = new Fuzzer(plan, app.MetadataChannel, () => app.MetadataLogs.Count, () => app.MetadataLogs.Failures, async () =>
        {
            var alice = app.Sync(app.Alice);
            var deadline = DateTime.UtcNow.AddSeconds(15);
            await alice.GetAccountAsync(new GetAccountRequest(), deadline: deadline);
            var content = Appliance.Content(777_000 + Interlocked.Increment(ref probe), 100);
            var (chunks, _) = Appliance.Cut(content);
            var planned = await alice.PlanUploadAsync(new PlanUploadRequest { Path = "health/probe.bin", Size = 100, Chunks = { chunks } }, deadline: deadline);
            Assert.NotEmpty(planned.Missing);
            await alice.ListFilesAsync(new ListFilesRequest { Limit = 5 }, deadline: deadline);
        });

        await RunAsync(fuzzer, options, app);
    }

    private async Task FuzzStorageAsync(FuzzOptions options)
    {
        await using var app = await Appliance.StartAsync();
        var plan = await FuzzTargets.StorageAsync(app);
        var probe = 0;
        var fuzzer = new Fuzzer(plan, app.StorageChannel, () => app.StorageLogs.Count, () => app.StorageLogs.Failures, async () =>
        {
            // A put and a get of fresh bytes with tokens as the metadata node would issue them.
            var bytes = Appliance.Content(888_000 + Interlocked.Increment(ref probe), 3_000);
            var id = ChunkId.Compute(bytes);
            var put = app.KeyRing.Issue(TokenOperation.Put, app.Alice.NamespaceId, Appliance.StorageNodeId, [id], TimeSpan.FromMinutes(5));
            var get = app.KeyRing.Issue(TokenOperation.Get, app.Alice.NamespaceId, Appliance.StorageNodeId, [id], TimeSpan.FromMinutes(5));
            using var call = app.Storage().PutChunks(deadline: DateTime.UtcNow.AddSeconds(15));
            await call.RequestStream.WriteAsync(new PutChunkRequest { Header = new ChunkHeader { ChunkId = id.ToByteString(), Encoding = Proto.ChunkEncoding.Raw, PlainSize = 3_000, StoredSize = 3_000, Token = put } });
            await call.RequestStream.WriteAsync(new PutChunkRequest { Data = ByteString.CopyFrom(bytes) });
            await call.RequestStream.CompleteAsync();
            var response = await call;
            Assert.Single(response.Results);
            var (status, body) = await app.HttpGetAsync(app.StorageHttpUrl, id.ToByteString(), get);
            Assert.Equal(200, status);
            Assert.Equal(bytes, body);
        });

        await RunAsync(fuzzer, options, app);
    }

    private async Task RunAsync(Fuzzer fuzzer, FuzzOptions options, Appliance app)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(options.Cases > CiCases ? 60 : 10));
        var report = await fuzzer.RunAsync(options, timeout.Token);
        output.WriteLine(report.Summary());
        output.WriteLine($"client stream resets logged by grpc-dotnet (not counted as failures): metadata {app.MetadataLogs.ClientResets}, storage {app.StorageLogs.ClientResets}");
        Assert.True(report.Passed, report.Summary());
        Assert.True(report.Cases >= Math.Min(options.Cases, options.OnlyCase is null ? options.Cases : 1), report.Summary());
        app.AssertNoUnhandledExceptions();
    }
}
