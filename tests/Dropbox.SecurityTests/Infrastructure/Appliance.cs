using System.Diagnostics;
using System.Net.Http.Headers;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests.Infrastructure;

/// <summary>
/// The appliance as an attacker meets it: a real metadata node and a real storage node in this process, each on Kestrel
/// at 127.0.0.1:0 over a shared key ring, with two users (alice and bob). Tests talk to it only as a third-party client
/// would: gRPC through clients generated from the .proto files (or raw bytes), and HTTP to presigned links.
/// </summary>
internal sealed class Appliance : IAsyncDisposable
{
    /// <summary>Node id of the storage node.</summary>
    public const string StorageNodeId = "storage-1";

    /// <summary>Largest message a test client sends or accepts (beyond every server limit, so the server's limits are what is tested).</summary>
    public const int ClientMessageLimit = 256 * 1024 * 1024;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly TempFolder _dir;
    private readonly WebApplication _metadata;
    private readonly WebApplication _storage;

    private Appliance(TempFolder dir, WebApplication metadata, WebApplication storage, NodeLogCapture metadataLogs, NodeLogCapture storageLogs, MetadataNodeOptions options)
    {
        _dir = dir;
        _metadata = metadata;
        _storage = storage;
        MetadataLogs = metadataLogs;
        StorageLogs = storageLogs;
        MetadataOptions = options;
        KeyRing = ChunkTokenService.ForKeyDirectory(options.KeysDirectory);
    }

    public MetadataNodeOptions MetadataOptions { get; }

    public string MetadataUrl { get; private set; } = string.Empty;

    public string StorageGrpcUrl { get; private set; } = string.Empty;

    public string StorageHttpUrl { get; private set; } = string.Empty;

    public GrpcChannel MetadataChannel { get; private set; } = null!;

    public GrpcChannel StorageChannel { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    public NodeLogCapture MetadataLogs { get; }

    public NodeLogCapture StorageLogs { get; }

    /// <summary>
    /// The key ring the nodes share. Tests use it only for what a compromised or misbehaving peer could present
    /// (tokens for another node, operation or namespace, expired ones, node credentials), never to bypass a check.
    /// </summary>
    public ChunkTokenService KeyRing { get; }

    public Party Alice { get; private set; } = null!;

    /// <summary>A path inside this appliance's temp folder (removed with it).</summary>
    public string Scratch(string name) => _dir.Sub(name);

    public Party Bob { get; private set; } = null!;

    /// <summary>Starts both nodes and creates alice and bob; returns once a chunk can be placed on the storage node.</summary>
    public static async Task<Appliance> StartAsync(Func<MetadataNodeOptions, MetadataNodeOptions>? configure = null)
    {
        var dir = new TempFolder();
        var keys = dir.Sub("keys");
        // One key before either node reads the ring, so both sign and verify with the same key.
        ChunkTokenService.ForKeyDirectory(keys).Issue(TokenOperation.System, NamespaceId.SystemValue, "warm-up", [], TimeSpan.FromSeconds(1));
        var options = new MetadataNodeOptions
        {
            DataDirectory = dir.Sub("metadata"),
            KeysDirectory = keys,
            Urls = ["http://127.0.0.1:0"],
            GcInterval = TimeSpan.Zero,
            EventWait = TimeSpan.FromSeconds(3),
            SyncWrites = false,
        };
        options = configure?.Invoke(options) ?? options;
        var metadataLogs = new NodeLogCapture("metadata");
        var storageLogs = new NodeLogCapture("storage");
        var metadata = MetadataNodeHost.Build(options, logging => Capture(logging, metadataLogs));
        WebApplication? storage = null;
        try
        {
            await metadata.StartAsync();
            var metadataUrl = MetadataNodeHost.BoundUrls(metadata)[0];
            storage = StorageNodeHost.Build(
                new StorageNodeOptions
                {
                    DataDirectory = dir.Sub("storage"),
                    KeysDirectory = keys,
                    GrpcUrl = "http://127.0.0.1:0",
                    HttpUrl = "http://127.0.0.1:0",
                    MetadataUrl = metadataUrl,
                    NodeId = StorageNodeId,
                    IndexSizeBytes = 1L << 20,
                    IndexMemoryBytes = 1L << 24,
                    CheckpointInterval = TimeSpan.Zero,
                    CompactionInterval = TimeSpan.Zero,
                    ScrubInterval = TimeSpan.Zero,
                    MaxRetryDelay = TimeSpan.FromMilliseconds(200),
                },
                logging => Capture(logging, storageLogs));
            await storage.StartAsync();
            var (grpc, http) = await storage.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(StartTimeout);
            var appliance = new Appliance(dir, metadata, storage, metadataLogs, storageLogs, options)
            {
                MetadataUrl = metadataUrl.TrimEnd('/'),
                StorageGrpcUrl = grpc,
                StorageHttpUrl = http,
            };
            appliance.MetadataChannel = Channel(appliance.MetadataUrl);
            appliance.StorageChannel = Channel(grpc);
            appliance.Alice = appliance.AddUser("alice");
            appliance.Bob = appliance.AddUser("bob");
            await appliance.WaitForPlacementAsync();
            return appliance;
        }
        catch
        {
            if (storage is not null)
            {
                await storage.DisposeAsync();
            }

            await metadata.DisposeAsync();
            dir.Dispose();
            throw;
        }
    }

    private static void Capture(ILoggingBuilder logging, NodeLogCapture capture)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddProvider(capture);
    }

    private static GrpcChannel Channel(string url) => GrpcChannel.ForAddress(url, new GrpcChannelOptions
    {
        MaxSendMessageSize = ClientMessageLimit,
        MaxReceiveMessageSize = ClientMessageLimit,
    });

    private MetadataStore Store => _metadata.Services.GetRequiredService<MetadataStore>();

    /// <summary>Creates another user (as the operator's 'user add' would).</summary>
    public Party AddUser(string name)
    {
        var (user, token) = Store.AddUser(name);
        return new Party(name, token, user.Namespace.Value);
    }

    private async Task WaitForPlacementAsync()
    {
        var clock = Stopwatch.StartNew();
        while (Store.LiveNodes().Count == 0)
        {
            if (clock.Elapsed > StartTimeout)
            {
                throw new TimeoutException("The storage node never registered.\n" + string.Join("\n", StorageLogs.Failures));
            }

            await Task.Delay(20);
        }
    }

    // ------------------------------------------------------------------ clients

    /// <summary>Call options carrying "authorization: Bearer TOKEN" (none when null).</summary>
    public static Metadata Bearer(string? token) => token is null ? [] : new Metadata { { "authorization", "Bearer " + token } };

    public Sync.SyncClient Sync(Party? who) => Sync(who?.Token);

    public Sync.SyncClient Sync(string? token) => new(MetadataChannel.Intercept(m =>
    {
        if (token is not null)
        {
            m.Add("authorization", "Bearer " + token);
        }

        return m;
    }));

    public Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient Cluster(string? token) => new(MetadataChannel.Intercept(m =>
    {
        if (token is not null)
        {
            m.Add("authorization", "Bearer " + token);
        }

        return m;
    }));

    /// <summary>The storage node's gRPC client, optionally with a bearer header (node credential).</summary>
    public ChunkStorage.ChunkStorageClient Storage(string? bearer = null) => new(StorageChannel.Intercept(m =>
    {
        if (bearer is not null)
        {
            m.Add("authorization", "Bearer " + bearer);
        }

        return m;
    }));

    /// <summary>The credential the metadata node presents to the storage node (system token for that node).</summary>
    public string NodeCredential(string nodeId = StorageNodeId) =>
        KeyRing.Issue(TokenOperation.System, NamespaceId.SystemValue, nodeId, [], TimeSpan.FromMinutes(10));

    /// <summary>The credential a storage node presents to the metadata node.</summary>
    public string MetadataSystemToken() =>
        KeyRing.Issue(TokenOperation.System, NamespaceId.SystemValue, Dropbox.MetadataNode.Services.CallAuthenticator.MetadataNodeId, [], TimeSpan.FromMinutes(10));

    // ------------------------------------------------------------------ files

    /// <summary>Content cut into pieces of at most <paramref name="pieceSize"/> bytes, as chunk refs (raw).</summary>
    public static (List<Proto.ChunkRef> Chunks, List<byte[]> Pieces) Cut(byte[] content, int pieceSize = 64 * 1024)
    {
        var chunks = new List<Proto.ChunkRef>();
        var pieces = new List<byte[]>();
        for (var offset = 0; offset < content.Length; offset += pieceSize)
        {
            var piece = content.AsSpan(offset, Math.Min(pieceSize, content.Length - offset)).ToArray();
            pieces.Add(piece);
            chunks.Add(ChunkRef.Raw(ChunkId.Compute(piece), piece.Length).ToProto());
        }

        return (chunks, pieces);
    }

    /// <summary>Random bytes from a seed (the same seed gives the same content, so two users can hold identical files).</summary>
    public static byte[] Content(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>PUTs one chunk's plain bytes to a presigned link; returns the HTTP status and body.</summary>
    public async Task<(int Status, string Body)> HttpPutAsync(string httpBase, ByteString chunkId, string token, byte[] bytes)
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await Http.PutAsync(ChunkUrl(httpBase, chunkId, token), content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>GETs a chunk through a presigned link.</summary>
    public async Task<(int Status, byte[] Body)> HttpGetAsync(string httpBase, ByteString chunkId, string token)
    {
        using var response = await Http.GetAsync(ChunkUrl(httpBase, chunkId, token));
        return ((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync());
    }

    public static string ChunkUrl(string httpBase, ByteString chunkId, string? token) =>
        $"{httpBase.TrimEnd('/')}/chunks/{Convert.ToHexStringLower(chunkId.Span)}" + (token is null ? string.Empty : "?token=" + Uri.EscapeDataString(token));

    /// <summary>Plans, puts every missing chunk through its presigned link and commits: what a well-behaved client does.</summary>
    public async Task<StoredFile> UploadAsync(Party who, string path, byte[] content, ulong baseVersion = 0, int pieceSize = 64 * 1024)
    {
        var (chunks, pieces) = Cut(content, pieceSize);
        var client = Sync(who);
        var plan = await client.PlanUploadAsync(new PlanUploadRequest { Path = path, Size = (ulong)content.Length, MtimeUnixMs = 1_700_000_000_000, BaseVersion = baseVersion, Chunks = { chunks } });
        foreach (var put in plan.Missing)
        {
            var index = chunks.FindIndex(c => c.Id == put.ChunkId);
            var (status, body) = await HttpPutAsync(put.Node.HttpUrl, put.ChunkId, put.Token, pieces[index]);
            Assert.True(status is 200 or 201, $"put of {path} chunk {index}: {status} {body}");
        }

        // The storage node reports stored chunks to the metadata node asynchronously; on a loaded machine a commit can
        // come first and be refused as NOT_FOUND (seen in CI). A well-behaved client commits again (the sync client plans
        // again); here, up to 50 times 100 ms apart.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var commit = await client.CommitFileAsync(new CommitFileRequest { Path = path, Size = (ulong)content.Length, MtimeUnixMs = 1_700_000_000_000, BaseVersion = baseVersion, Chunks = { chunks }, Device = who.Name + "-laptop" });
                return new StoredFile(commit.Entry, chunks, pieces, plan);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && plan.Missing.Count > 0 && attempt < 50)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Where the node logs stand now; pass it to <see cref="AssertNoUnhandledExceptions"/> to judge only what came later.</summary>
    public (int Metadata, int Storage) LogMark() => (MetadataLogs.Count, StorageLogs.Count);

    /// <summary>Fails the test if either node logged an error that carries an exception (an unhandled failure) since <paramref name="mark"/>.</summary>
    public void AssertNoUnhandledExceptions((int Metadata, int Storage) mark = default)
    {
        var failures = MetadataLogs.Since(mark.Metadata).Concat(StorageLogs.Since(mark.Storage)).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} unhandled exception(s) logged by the nodes:\n" + string.Join("\n----\n", failures.Take(5)));
    }

    public async ValueTask DisposeAsync()
    {
        MetadataChannel?.Dispose();
        StorageChannel?.Dispose();
        Http.Dispose();
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await _storage.StopAsync(grace.Token);
            await _metadata.StopAsync(grace.Token);
        }
        finally
        {
            await _storage.DisposeAsync();
            await _metadata.DisposeAsync();
            _dir.Dispose();
        }
    }
}
