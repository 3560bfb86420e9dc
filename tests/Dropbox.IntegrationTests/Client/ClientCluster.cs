using System.Diagnostics;
using System.Text.RegularExpressions;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dropbox.IntegrationTests.Client;

/// <summary>A metadata node and a storage node as real processes on 127.0.0.1 ephemeral ports, with one user.</summary>
internal sealed partial class ClientCluster : IClientTarget, IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly Dictionary<string, string> Quiet = new() { ["Logging__LogLevel__Default"] = "Warning", ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information" };
    private static readonly Dictionary<string, string> AsImage = new(Quiet) { ["PUBLIC_HOST"] = "127.0.0.1" };
    private readonly List<ChildProcess> _processes = [];

    private readonly List<ChildProcess> _storageNodes = [];
    private readonly int _storageCount;
    private readonly int _replication;
    private readonly bool _tls;
    private Func<int, IReadOnlyDictionary<string, string>>? _storageEnvironment;
    private Func<int, IReadOnlyList<string>>? _storageArguments;

    private ClientCluster(TempFolder dir, int storageNodes, int replication, bool tls)
    {
        Dir = dir;
        _storageCount = storageNodes;
        _replication = replication;
        _tls = tls;
    }

    /// <summary>With TLS: the CA file the nodes' certificate comes from (clients log in with <c>--ca</c>); else null.</summary>
    public string? CaFile { get; private set; }

    public TempFolder Dir { get; }

    public string MetadataUrl { get; private set; } = string.Empty;

    public string Token { get; private set; } = string.Empty;

    public string StorageGrpcUrl { get; private set; } = string.Empty;

    /// <summary>The metadata node's <c>metrics:</c> line: its operator-only listener.</summary>
    public string? MetadataMetricsUrl { get; private set; }

    /// <summary>Each storage node's HTTP/1.1 base URL (presigned links, <c>/healthz</c>, <c>/readyz</c>).</summary>
    public List<string> StorageHttpUrls { get; } = [];

    /// <summary>Each storage node's <c>metrics:</c> line: its operator-only listener.</summary>
    public List<string> StorageMetricsUrls { get; } = [];

    /// <summary>
    /// Starts a metadata node and <paramref name="storageNodes"/> storage nodes (the compose topology, as processes),
    /// placing every chunk on <paramref name="replication"/> of them. With <paramref name="tls"/>, as docker/compose.yaml
    /// runs them: <c>tls init</c> makes a CA and a certificate, every node serves https and trusts that CA.
    /// </summary>
    /// <param name="storageEnvironment">Extra environment of storage node N (1-based), e.g. a faked clock; null: none.</param>
    /// <param name="storageArguments">Extra command-line options of storage node N (1-based); null: none.</param>
    public static async Task<ClientCluster> StartAsync(TempFolder dir, int storageNodes = 1, int replication = 1, bool tls = false, Func<int, IReadOnlyDictionary<string, string>>? storageEnvironment = null, Func<int, IReadOnlyList<string>>? storageArguments = null)
    {
        var cluster = new ClientCluster(dir, storageNodes, replication, tls) { _storageEnvironment = storageEnvironment, _storageArguments = storageArguments };
        try
        {
            await cluster.StartCoreAsync();
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    private async Task StartCoreAsync()
    {
        var keys = Dir.CreateSub("keys");
        var metaData = Dir.CreateSub("meta");
        using (var add = ChildProcess.Start(Binaries.MetadataNode, ["user", "add", "alice", "--data", metaData]))
        {
            var code = await add.WaitForExitAsync(StartTimeout);
            Assert.True(code == 0, $"user add failed ({code}): {add.Stderr}");
            Token = TokenLine().Match(add.Stdout).Groups[1].Value;
            Assert.False(string.IsNullOrEmpty(Token), "user add printed no token:\n" + add.Stdout);
        }

        List<string> tlsArgs = [];
        if (_tls)
        {
            var tlsDir = Path.Combine(Dir.Path, "tls");
            using var init = ChildProcess.StartLikeImage(Binaries.MetadataNode, ["tls", "init", "--dir", tlsDir, "--hosts", "127.0.0.1"], AsImage);
            Assert.True(await init.WaitForExitAsync(StartTimeout) == 0, $"tls init failed: {init.Stderr}");
            CaFile = Path.Combine(tlsDir, LocalCertificateAuthority.CaCertificateFile);
            tlsArgs = ["--tls-cert", Path.Combine(tlsDir, LocalCertificateAuthority.ServerCertificateFile), "--tls-key", Path.Combine(tlsDir, LocalCertificateAuthority.ServerKeyFile), "--tls-ca", CaFile];
        }

        var scheme = _tls ? "https" : "http";
        // With TLS this is the compose topology: every node starts through the images' entrypoint, as the images run it.
        string[] metaArgs = ["--data", metaData, "--urls", $"{scheme}://127.0.0.1:0", "--metrics-url", $"{scheme}://127.0.0.1:0", "--keys", keys, "--no-fsync", "--replication", _replication.ToString(System.Globalization.CultureInfo.InvariantCulture), .. tlsArgs];
        var meta = _tls ? ChildProcess.StartLikeImage(Binaries.MetadataNode, metaArgs, AsImage) : ChildProcess.Start(Binaries.MetadataNode, metaArgs, Quiet);
        _processes.Add(meta);
        MetadataUrl = (await meta.WaitForOutputAsync(MetadataListening(), StartTimeout)).Groups[1].Value.TrimEnd('/');
        MetadataMetricsUrl = (await meta.WaitForOutputAsync(MetricsLine(), StartTimeout)).Groups[1].Value;

        for (var i = 1; i <= _storageCount; i++)
        {
            string[] storageArgs = ["--data", Dir.CreateSub(i == 1 ? "storage" : $"storage{i}"), "--urls", $"{scheme}://127.0.0.1:0;{scheme}://127.0.0.1:0", "--metrics-url", $"{scheme}://127.0.0.1:0", "--keys", keys, "--metadata", MetadataUrl, "--node-id", $"s{i}", .. tlsArgs, .. _storageArguments?.Invoke(i) ?? []];
            var environment = new Dictionary<string, string>(_tls ? AsImage : Quiet);
            foreach (var (key, value) in _storageEnvironment?.Invoke(i) ?? new Dictionary<string, string>())
            {
                environment[key] = value;
            }

            var storage = _tls ? ChildProcess.StartLikeImage(Binaries.StorageNode, storageArgs, environment) : ChildProcess.Start(Binaries.StorageNode, storageArgs, environment);
            _processes.Add(storage);
            _storageNodes.Add(storage);
            var listening = await storage.WaitForOutputAsync(StorageListening(), StartTimeout);
            var url = listening.Groups[1].Value.TrimEnd('/');
            StorageHttpUrls.Add(listening.Groups[2].Value.TrimEnd('/'));
            StorageMetricsUrls.Add((await storage.WaitForOutputAsync(MetricsLine(), StartTimeout)).Groups[1].Value);
            if (i == 1)
            {
                StorageGrpcUrl = url;
            }
        }

        await WaitForStorageRegisteredAsync();
    }

    /// <summary>Polls until the metadata node can place a chunk (the storage node has registered).</summary>
    private async Task WaitForStorageRegisteredAsync()
    {
        AppContext.SetSwitch("System.Net.Http.SocketsHttpHandler.Http2UnencryptedSupport", true);
        var trust = CaFile is null ? ServerTrust.System : ServerTrust.ForCaFile(CaFile, "--ca");
        using var channel = GrpcChannel.ForAddress(MetadataUrl, new GrpcChannelOptions { HttpHandler = trust.CreateHandler() });
        var client = new Sync.SyncClient(channel);
        var headers = new Metadata { { "authorization", "Bearer " + Token } };
        var probe = new PlanUploadRequest { Path = "probe.bin", Size = 1 };
        probe.Chunks.Add(ChunkRef.Raw(ChunkId.Compute([42]), 1).ToProto());
        var clock = Stopwatch.StartNew();
        string last = "no answer";
        while (clock.Elapsed < StartTimeout)
        {
            try
            {
                var plan = await client.PlanUploadAsync(probe, headers);
                if (plan.Missing.Count == _replication && plan.Missing.All(m => m.Node is not null && !string.IsNullOrEmpty(m.Node.GrpcUrl)))
                {
                    return;
                }
            }
            catch (RpcException e)
            {
                last = e.Status.ToString();
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The storage node never became placeable: " + last + "\n" + string.Join("\n", _processes.Select(p => p.Stderr)));
    }

    /// <summary>SIGKILLs storage node number <paramref name="index"/> (1-based), as a lost machine would.</summary>
    public void KillStorageNode(int index) => _storageNodes[index - 1].Kill();

    /// <summary>A new client with its own folder and state directory.</summary>
    public ClientProcess NewClient(string name, string? binary = null) => new(this, name, Dir.CreateSub(name + "-folder"), Dir.CreateSub(name + "-state"), binary);

    /// <summary>The server's listing as seen through a client's <c>ls</c> verb, one line per entry.</summary>
    public async Task<List<string>> NewClientListAsync(ClientProcess client)
    {
        var r = await client.RunAsync("ls");
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }

    /// <summary>Diagnostics for a failed assertion.</summary>
    public string Logs => string.Join("\n----\n", _processes.Select(p => Tail(p.Stdout + p.Stderr)));

    private static string Tail(string s) => s.Length <= 4000 ? s : "..." + s[^4000..];

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            p.Dispose();
        }
    }

    [GeneratedRegex(@"token:\s*(\S+)")]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"listening:\s*(https?://127\.0\.0\.1:\d+)")]
    private static partial Regex MetadataListening();

    [GeneratedRegex(@"^metrics: (https?://\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex MetricsLine();

    [GeneratedRegex(@"grpc=(https?://\S+)\s+http=(https?://\S+)")]
    private static partial Regex StorageListening();
}
