using Dropbox.MetadataNode.Services.Mapping;
using System.Net;
using System.Security.Cryptography;
using Dropbox.Hosting;
using Dropbox.IntegrationTests.Client;
using Dropbox.IntegrationTests.Storage;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.IntegrationTests.Observability;

/// <summary>
/// <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> of both node kinds on real Kestrel (127.0.0.1:0), fetched with a
/// plain HTTP/1.1 client as Prometheus, a load balancer or a Kubernetes probe would.
/// </summary>
public sealed class NodeEndpointsTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TempFolder _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_storage_node_scrape_counts_a_new_put_as_stored_and_the_same_put_again_as_deduplicated()
    {
        // Arrange: a storage node with no metadata node (its events wait in the outbox).
        var keys = _dir.CreateSub("keys");
        var tokens = ChunkTokenService.ForKeyDirectory(keys);
        tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, "obs-1", [], TimeSpan.FromMinutes(1));
        var options = SmallStorageNode.Options(_dir.CreateSub("data"), keys, "obs-1");
        await using var app = StorageNodeHost.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        var (_, httpUrl) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(Timeout);
        var metricsUrl = app.Services.GetRequiredService<OperatorListener>().Url + "/metrics";
        var before = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        Assert.Equal(0, before.Single("dropbox_storage_chunks_stored_total"));

        // Act: put one chunk twice through its presigned link.
        var bytes = RandomNumberGenerator.GetBytes(100_000);
        var id = ChunkId.Compute(bytes);
        var link = $"{httpUrl}/chunks/{id}?token={Uri.EscapeDataString(tokens.Issue(TokenOperation.Put, "ns-obs", "obs-1", [id], TimeSpan.FromMinutes(5)))}";
        for (var i = 0; i < 2; i++)
        {
            using var put = await _http.PutAsync(link, new ByteArrayContent(bytes));
            Assert.True(put.IsSuccessStatusCode, $"put {i}: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
        }

        // Assert: the counters moved by exactly what happened, and the gauges describe the node.
        var after = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        Assert.Equal(1, after.Single("dropbox_storage_chunks_stored_total"));
        Assert.Equal(1, after.Single("dropbox_storage_chunks_deduplicated_total"));
        Assert.Equal(2 * 100_000, after.Single("dropbox_storage_bytes_in_total"));
        Assert.Equal(1, after.Single("dropbox_storage_chunks"));
        Assert.True(after.Single("dropbox_storage_live_bytes") >= 100_000, after.Text);
        Assert.True(after.Single("dropbox_storage_pending_events") >= 1, "no metadata node: the events wait\n" + after.Text);
        Assert.Equal(0, after.Single("dropbox_storage_write_failed"));
        Assert.Equal(0, after.Single("dropbox_storage_full"));
        Assert.Equal(0, after.Single("dropbox_storage_puts_refused_full_total"));
        Assert.True(after.Single("dropbox_disk_free_bytes") > 0, after.Text);
        Assert.True(after.Sum("dropbox_http_requests_total", ("route", "/chunks/{id}"), ("method", "PUT"), ("code", "201")) == 2, after.Text);
        Assert.Equal(2, after.Sum("dropbox_http_request_duration_seconds_count", ("route", "/chunks/{id}"), ("method", "PUT")));
        Assert.True(after.Sum("process_cpu_seconds_total") > 0, after.Text);

        // A read counts its bytes out.
        var get = $"{httpUrl}/chunks/{id}?token={Uri.EscapeDataString(tokens.Issue(TokenOperation.Get, "ns-obs", "obs-1", [id], TimeSpan.FromMinutes(5)))}";
        Assert.Equal(bytes, await _http.GetByteArrayAsync(get));
        var read = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        Assert.Equal(100_000, read.Single("dropbox_storage_bytes_out_total"));
        await read.AssertPromtoolAcceptsAsync();

        // The probes answer HTTP/1.1.
        var (healthStatus, healthVersion, _) = await GetAsync(httpUrl + "/healthz");
        Assert.Equal((HttpStatusCode.OK, new Version(1, 1)), (healthStatus, healthVersion));
        var (readyStatus, _, readyBody) = await GetAsync(httpUrl + "/readyz");
        Assert.Equal(HttpStatusCode.OK, readyStatus);
        Assert.StartsWith("ready", readyBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_storage_node_below_its_free_space_reserve_refuses_a_put_with_507_and_its_scrape_shows_it_full()
    {
        // Arrange: a reserve no disk has free, so the node is full from its start.
        var keys = _dir.CreateSub("keys");
        var tokens = ChunkTokenService.ForKeyDirectory(keys);
        tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, "full-1", [], TimeSpan.FromMinutes(1));
        await using var app = StorageNodeHost.Build(
            SmallStorageNode.Options(_dir.CreateSub("data"), keys, "full-1") with { ReserveBytes = long.MaxValue / 2 },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        var (_, httpUrl) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(Timeout);
        var metricsUrl = app.Services.GetRequiredService<OperatorListener>().Url + "/metrics";

        // Act: one put through a presigned link.
        var bytes = RandomNumberGenerator.GetBytes(10_000);
        var id = ChunkId.Compute(bytes);
        var link = $"{httpUrl}/chunks/{id}?token={Uri.EscapeDataString(tokens.Issue(TokenOperation.Put, "ns-full", "full-1", [id], TimeSpan.FromMinutes(5)))}";
        using var put = await _http.PutAsync(link, new ByteArrayContent(bytes));

        // Assert: refused as out of space, nothing stored, and the scrape says why.
        Assert.Equal(HttpStatusCode.InsufficientStorage, put.StatusCode);
        var metrics = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        Assert.Equal(1, metrics.Single("dropbox_storage_full"));
        Assert.Equal(1, metrics.Single("dropbox_storage_puts_refused_full_total"));
        Assert.Equal(0, metrics.Single("dropbox_storage_chunks_stored_total"));
        Assert.Equal(0, metrics.Single("dropbox_storage_chunks"));

        // The .NET runtime collector is in the node's registry: a collection is counted.
        GC.Collect();
        var runtime = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        Assert.True(runtime.Sum("dotnet_collection_count_total") >= 1, runtime.Text);
    }

    [Fact]
    public async Task A_metadata_node_scrape_counts_a_gc_pass_that_deletes_an_unreferenced_chunk_from_its_storage_node()
    {
        // Arrange: a storage node holding one chunk, and a metadata node (same key ring) whose collector runs every
        // 250 ms with a grace just above a 1 s token lifetime; the chunk is reported stored and no file names it.
        var keys = _dir.CreateSub("keys");
        var tokens = ChunkTokenService.ForKeyDirectory(keys);
        tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, "gc-1", [], TimeSpan.FromMinutes(1));
        await using var storage = StorageNodeHost.Build(
            SmallStorageNode.Options(_dir.CreateSub("data"), keys, "gc-1"),
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        await storage.StartAsync();
        var (grpcUrl, httpUrl) = await storage.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(Timeout);
        var storageMetricsUrl = storage.Services.GetRequiredService<OperatorListener>().Url + "/metrics";
        var bytes = RandomNumberGenerator.GetBytes(1000);
        var id = ChunkId.Compute(bytes);
        var link = $"{httpUrl}/chunks/{id}?token={Uri.EscapeDataString(tokens.Issue(TokenOperation.Put, "ns-gc", "gc-1", [id], TimeSpan.FromMinutes(5)))}";
        using (var put = await _http.PutAsync(link, new ByteArrayContent(bytes)))
        {
            Assert.True(put.IsSuccessStatusCode, $"{(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
        }

        Assert.Equal(1, (await PrometheusText.ScrapeAsync(_http, storageMetricsUrl)).Single("dropbox_storage_chunks"));
        await using var metadata = MetadataNodeHost.Build(
            new MetadataNodeOptions
            {
                DataDirectory = _dir.CreateSub("meta"),
                KeysDirectory = keys,
                Urls = ["http://127.0.0.1:0"],
                TokenLifetime = TimeSpan.FromSeconds(1),
                GcGracePeriod = TimeSpan.FromSeconds(2),
                GcInterval = TimeSpan.FromMilliseconds(250),
            },
            logging => logging.ClearProviders());
        var store = metadata.Services.GetRequiredService<MetadataStore>();
        var (user, _) = store.AddUser("alice");
        store.Nodes.Register(new NodeRegistration("gc-1", grpcUrl, httpUrl, 0, 0));
        // Reported as an LZ4 chunk 900 bytes at rest, so the reclaimed bytes tell stored bytes from plain ones.
        var chunk = new Proto.ChunkRef { Id = id.ToByteString(), Size = 1000, Encoding = Proto.ChunkEncoding.Lz4, StoredSize = 900 };
        store.ReportChunksStored(Report("gc-1", chunk, user.Namespace.Value));

        // Act: the node runs; its collector passes until the grace has gone by and the chunk is deleted.
        await metadata.StartAsync();
        var metricsUrl = MetadataNodeHost.MetricsUrl(metadata) + "/metrics";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var metrics = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        while (metrics.Single("dropbox_gc_chunks_deleted_total") < 1)
        {
            Assert.True(clock.Elapsed < Timeout, $"no collector pass deleted the chunk within {Timeout}:\n{metrics.Text}");
            await Task.Delay(100);
            metrics = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        }

        // Assert: the pass counted, the chunk's stored bytes reclaimed, nothing failed or pruned, and the node no
        // longer holds it; the metadata node's disk gauges describe its file system.
        Assert.True(metrics.Single("dropbox_gc_runs_total") >= 1, metrics.Text);
        Assert.Equal(1, metrics.Single("dropbox_gc_chunks_deleted_total"));
        Assert.Equal(900, metrics.Single("dropbox_gc_bytes_reclaimed_total"));
        Assert.Equal(0, metrics.Single("dropbox_gc_chunks_failed_total"));
        Assert.Equal(0, metrics.Single("dropbox_gc_versions_pruned_total"));
        Assert.True(metrics.Single("dropbox_disk_free_bytes") > 0, metrics.Text);
        Assert.True(metrics.Single("dropbox_disk_total_bytes") >= metrics.Single("dropbox_disk_free_bytes"), metrics.Text);
        Assert.Equal(0, (await PrometheusText.ScrapeAsync(_http, storageMetricsUrl)).Single("dropbox_storage_chunks"));
        GC.Collect();
        var runtime = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        Assert.True(runtime.Sum("dotnet_collection_count_total") >= 1, runtime.Text);
        await metrics.AssertPromtoolAcceptsAsync();
    }

    [Fact]
    public async Task A_metadata_node_serves_probes_on_its_http11_listener_and_metrics_on_its_operator_listener_and_is_unready_once_its_store_is_closed()
    {
        // Arrange: cleartext gRPC (HTTP/2 only) plus the HTTP/1.1 listener; replication 2 over two registered nodes.
        var options = new MetadataNodeOptions
        {
            DataDirectory = _dir.CreateSub("meta"),
            KeysDirectory = _dir.CreateSub("keys"),
            Urls = ["http://127.0.0.1:0"],
            HttpUrl = "http://127.0.0.1:0",
            GcInterval = TimeSpan.Zero,
            ReplicationFactor = 2,
        };
        await using var app = MetadataNodeHost.Build(options, logging => logging.ClearProviders());
        await app.StartAsync();
        var store = app.Services.GetRequiredService<MetadataStore>();
        var (user, token) = store.AddUser("alice");
        foreach (var node in new[] { "s1", "s2" })
        {
            store.Nodes.Register(new NodeRegistration(node, "http://127.0.0.1:9", "http://127.0.0.1:9", 0, 0));
        }

        var httpUrl = MetadataNodeHost.HttpUrl(app);
        Assert.NotNull(httpUrl);
        Assert.NotEqual(MetadataNodeHost.BoundUrls(app)[0], httpUrl);

        // Act: one plan of two new chunks, one call with a bad token, one chunk stored on one node only.
        using var channel = GrpcChannel.ForAddress(MetadataNodeHost.BoundUrls(app)[0]);
        var sync = new Sync.SyncClient(channel);
        var plan = new PlanUploadRequest { Path = "a.bin", Size = 2000 };
        var chunks = new[] { Chunk(1), Chunk(2) };
        plan.Chunks.AddRange(chunks);
        var answer = await sync.PlanUploadAsync(plan, new Grpc.Core.Metadata { { "authorization", "Bearer " + token } });
        Assert.Equal(4, answer.Missing.Count);
        await Assert.ThrowsAsync<RpcException>(async () => await sync.PlanUploadAsync(plan, new Grpc.Core.Metadata { { "authorization", "Bearer nope" } }));
        store.ReportChunksStored(Report("s1", chunks[0], user.Namespace.Value));

        // Assert: request, plan and replication metrics.
        var metricsUrl = MetadataNodeHost.MetricsUrl(app) + "/metrics";
        var metrics = await PrometheusText.ScrapeAsync(_http, metricsUrl);
        Assert.Equal(2, metrics.Single("dropbox_metadata_chunks_planned_total"));
        Assert.Equal(2, metrics.Single("dropbox_metadata_chunks_to_upload_total"));
        Assert.Equal(4, metrics.Single("dropbox_metadata_chunk_puts_planned_total"));
        Assert.Equal(0, metrics.Single("dropbox_metadata_chunks_deduplicated_total"));
        Assert.Equal(1, metrics.Sum("dropbox_grpc_server_handled_total", ("method", "/dropbox.metadata.v1.Sync/PlanUpload"), ("code", "OK")));
        Assert.Equal(1, metrics.Sum("dropbox_grpc_server_handled_total", ("method", "/dropbox.metadata.v1.Sync/PlanUpload"), ("code", "Unauthenticated")));
        Assert.Equal(2, metrics.Sum("dropbox_grpc_server_handling_seconds_count", ("method", "/dropbox.metadata.v1.Sync/PlanUpload")));
        Assert.Equal(1, metrics.Single("dropbox_chunks_under_replicated"));
        Assert.Equal(2, metrics.Sum("dropbox_storage_nodes", ("state", "live")));
        Assert.True(metrics.Single("dropbox_disk_used_bytes") > 0, metrics.Text);
        Assert.True(metrics.Single("dropbox_metadata_table_readers_bytes") >= 0, metrics.Text);
        await metrics.AssertPromtoolAcceptsAsync();

        // The second copy arrives: nothing is under-replicated any more.
        store.ReportChunksStored(Report("s2", chunks[0], user.Namespace.Value));
        app.Services.GetRequiredService<MetadataMetrics>().InvalidateUnderReplicated();
        Assert.Equal(0, (await PrometheusText.ScrapeAsync(_http, metricsUrl)).Single("dropbox_chunks_under_replicated"));

        // Probes over HTTP/1.1.
        var (healthStatus, healthVersion, healthBody) = await GetAsync(httpUrl + "/healthz");
        Assert.Equal((HttpStatusCode.OK, new Version(1, 1), "ok"), (healthStatus, healthVersion, healthBody));
        var (readyStatus, _, readyBody) = await GetAsync(httpUrl + "/readyz");
        Assert.True(readyStatus == HttpStatusCode.OK, readyBody);

        // The store closes (RocksDB gone): not ready, and the answer says why.
        store.Dispose();
        var (closedStatus, _, closedBody) = await GetAsync(httpUrl + "/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, closedStatus);
        Assert.Contains("RocksDB store is closed", closedBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_are_answered_only_on_the_operator_listener_never_where_a_client_connects()
    {
        // Node-wide numbers (chunks stored against deduplicated, chunks held, GC deletions) scraped around one's own
        // put would tell an account whether another stores that content: clients must not reach them.
        var tls = Dropbox.Shared.Tls.LocalCertificateAuthority.Ensure(_dir.CreateSub("tls"), ["127.0.0.1"]);
        var keys = _dir.CreateSub("keys");
        await using var storage = StorageNodeHost.Build(
            SmallStorageNode.Options(_dir.CreateSub("data"), keys, "ops-1"),
            logging => logging.ClearProviders());
        await storage.StartAsync();
        var (grpcUrl, httpUrl) = await storage.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(Timeout);
        await using var metadata = MetadataNodeHost.Build(
            new MetadataNodeOptions
            {
                DataDirectory = _dir.CreateSub("meta"),
                KeysDirectory = keys,
                Urls = ["https://127.0.0.1:0"],
                HttpUrl = "http://127.0.0.1:0",
                TlsCertificate = tls.ServerCertificate,
                GcInterval = TimeSpan.Zero,
            },
            logging => logging.ClearProviders());
        await metadata.StartAsync();
        using var trusting = new HttpClient(Dropbox.Shared.Tls.ServerTrust.ForCaFile(tls.CaCertificatePath, "the test CA").CreateHandler()) { Timeout = Timeout };

        // Where clients connect: the presigned-link listener, the storage gRPC listener (h2c), the metadata node's https
        // gRPC listener (HTTP/1.1 by ALPN) and its probe listener: not found.
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(httpUrl + "/metrics")).Status);
        using (var h2c = new HttpRequestMessage(HttpMethod.Get, grpcUrl + "/metrics") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact })
        using (var response = await _http.SendAsync(h2c))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using (var alpn = new HttpRequestMessage(HttpMethod.Get, MetadataNodeHost.BoundUrls(metadata)[0] + "/metrics") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact })
        using (var response = await trusting.SendAsync(alpn))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(MetadataNodeHost.HttpUrl(metadata) + "/metrics")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(httpUrl + "/METRICS")).Status);

        // The probes stay where load balancers look for them.
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(httpUrl + "/readyz")).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(MetadataNodeHost.HttpUrl(metadata) + "/readyz")).Status);

        // The operator listeners (loopback by default) answer the scrape, and their probes too.
        var storageOps = storage.Services.GetRequiredService<OperatorListener>().Url;
        Assert.StartsWith("http://127.0.0.1:", storageOps, StringComparison.Ordinal);
        Assert.True((await PrometheusText.ScrapeAsync(_http, storageOps + "/metrics")).Sum("process_cpu_seconds_total") > 0);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(storageOps + "/healthz")).Status);
        var metadataOps = MetadataNodeHost.MetricsUrl(metadata);
        Assert.StartsWith("http://127.0.0.1:", metadataOps, StringComparison.Ordinal);
        Assert.True((await PrometheusText.ScrapeAsync(_http, metadataOps + "/metrics")).Sum("process_cpu_seconds_total") > 0);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(metadataOps + "/readyz")).Status);
    }

    private async Task<(HttpStatusCode Status, Version Version, string Body)> GetAsync(string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await _http.SendAsync(request);
        return (response.StatusCode, response.Version, await response.Content.ReadAsStringAsync());
    }

    private static Proto.ChunkRef Chunk(int seed) =>
        new() { Id = Google.Protobuf.ByteString.CopyFrom(SHA256.HashData(BitConverter.GetBytes(seed))), Size = 1000, StoredSize = 1000 };

    private static ReportChunksStoredRequest Report(string node, Proto.ChunkRef chunk, string ns)
    {
        var report = new ReportChunksStoredRequest { NodeId = node };
        report.Chunks.Add(new StoredChunk { ChunkId = chunk.Id, Size = chunk.Size, Encoding = chunk.Encoding, StoredSize = chunk.StoredSize, NamespaceId = ns });
        return report;
    }
}
