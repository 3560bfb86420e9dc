using System.Net;
using System.Runtime.InteropServices;
using Dropbox.Hosting;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Cli;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.Shared.Tls;
using Dropbox.StorageNode;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.Appliance;

/// <summary>
/// The embedded appliance: <c>standalone [--data DIR] [--port PORT] [--bind ADDRESS] [--tls] [--insecure-http]</c>
/// runs a metadata node on ADDRESS:PORT (default 127.0.0.1) and a storage node beside it (PORT+1 gRPC, PORT+2
/// presigned links) in the same process, with data under DIR (<c>metadata/</c>, <c>storage/</c>, <c>keys/</c>,
/// <c>tls/</c>). On a new data folder it creates the first user. With <c>--tls</c>, or whenever ADDRESS is not
/// loopback (unless <c>--insecure-http</c>), every listener is TLS with the appliance's own CA (made on first
/// start in <c>tls/</c>), and the nodes call each other trusting that CA. All folders are owner-only. It prints
/// <c>token: TOKEN</c> only when it creates the first user (later only <c>user token owner --data DIR</c> shows it,
/// so it does not land in service logs on every start); with TLS <c>ca: PATH</c> and <c>fingerprint: SHA256:…</c> (of the server certificate);
/// <c>storage: URL (presigned links on URL)</c> and <c>storage-node: URL pid PID (in-process)</c> (this process's pid: the node runs in it); one
/// <c>metrics: URL</c> line per node (operator-only listeners on METRICS-ADDRESS, default 127.0.0.1: the metadata
/// node's on PORT+4, the storage node's on PORT+5; <c>/metrics</c> is answered nowhere else, since its node-wide numbers
/// would tell one account what another stores); then <c>ready: URL</c> once a client can upload; and stops cleanly on Ctrl-C or SIGTERM. Requests and
/// errors are logged at information level (<c>--log-level warning</c> quiets them, <c>--log-format json</c>). <c>--direct-io off</c>
/// turns the storage nodes' <c>O_DIRECT</c> segment reads and writes off (<see cref="StorageNodeOptions.DirectIo"/>).
/// </summary>
internal static class StandaloneCommand
{
    /// <summary>Name of the first user created in a new data folder.</summary>
    public const string FirstUser = OwnerToken.User;

    /// <summary>File (mode 0600) that keeps the first user's token for <c>user token owner --data DIR</c>.</summary>
    public const string TokenFileName = OwnerToken.FileName;

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs the appliance until Ctrl-C or SIGTERM; returns the exit code.</summary>
    public static async Task<int> RunAsync(string data, int port, string bind = "127.0.0.1", bool tls = false, bool insecureHttp = false, NodeLogging? logging = null, string metricsBind = "127.0.0.1", StandaloneCluster.Topology? topology = null, bool directIo = true)
    {
        logging ??= new NodeLogging();
        topology ??= new StandaloneCluster.Topology();
        topology.Validate();
        if (port is < 0 or > 65535)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"--port must be 0-65535; got {port}.");
        }

        if (!IPAddress.TryParse(bind.Trim('[', ']'), out var bindAddress) || bindAddress.Equals(IPAddress.Any) || bindAddress.Equals(IPAddress.IPv6Any))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"--bind takes the IP address of this machine that clients reach (it goes into the links and the certificate), not a wildcard; got '{bind}'.");
        }

        if (!IPAddress.TryParse(metricsBind.Trim('[', ']'), out var metricsAddress))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"--metrics-bind takes an IP address where only your metrics scraper reaches (default 127.0.0.1); got '{metricsBind}'.");
        }

        var useTls = UsesTls(bindAddress, tls, insecureHttp);
        var scheme = useTls ? "https" : "http";
        var host = UrlHost(bindAddress);
        var metricsHost = UrlHost(metricsAddress);

        data = Path.GetFullPath(data);
        var keys = Path.Combine(data, "keys");
        PrivateFolder.CreateAndTightenTree(data);
        var tlsMaterial = useTls
            ? LocalCertificateAuthority.Ensure(Path.Combine(data, "tls"), ["127.0.0.1", "::1", "localhost", bindAddress.ToString(), metricsAddress.ToString()])
            : null;
        var nodeTrust = tlsMaterial is null ? ServerTrust.System : ServerTrust.ForCaFile(tlsMaterial.CaCertificatePath, "the appliance's CA");

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => OnSignal(ctx, stop));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => OnSignal(ctx, stop));

        var metadataOptions = new MetadataNodeOptions
        {
            DataDirectory = Path.Combine(data, "metadata"),
            BackupDirectory = Path.Combine(data, "backups"),
            KeysDirectory = keys,
            Urls = [$"{scheme}://{host}:{port}"],
            HttpUrl = $"{scheme}://{host}:{(port == 0 ? 0 : port + 3)}",
            MetricsUrl = $"{scheme}://{metricsHost}:{(port == 0 ? 0 : port + 4)}",
            TlsCertificate = tlsMaterial?.ServerCertificate,
            InsecureHttp = insecureHttp,
            NodeTrust = nodeTrust,
        };
        metadataOptions = topology.Apply(metadataOptions);
        await using var metadata = MetadataNodeHost.Build(metadataOptions, logging.Apply);
        var store = metadata.Services.GetRequiredService<MetadataStore>();
        var token = EnsureFirstUser(store, data);
        await metadata.StartAsync(stop.Token).ConfigureAwait(false);
        var metadataUrl = MetadataNodeHost.BoundUrls(metadata).First();
        if (topology.StorageNodes > 1)
        {
            return await StandaloneCluster.RunAsync(metadata, store, metadataUrl, token, tlsMaterial, data, scheme, host, metricsHost, port, insecureHttp, logging, topology, directIo, stop.Token).ConfigureAwait(false);
        }

        var storage = StorageNodeHost.Build(
            new StorageNodeOptions
            {
                DataDirectory = Path.Combine(data, "storage"),
                BackupDirectory = Path.Combine(data, "backups"),
                KeysDirectory = keys,
                GrpcUrl = $"{scheme}://{host}:{(port == 0 ? 0 : port + 1)}",
                HttpUrl = $"{scheme}://{host}:{(port == 0 ? 0 : port + 2)}",
                MetricsUrl = $"{scheme}://{metricsHost}:{(port == 0 ? 0 : port + 5)}",
                MetadataUrl = metadataUrl,
                NodeId = "storage-1",
                TlsCertificate = tlsMaterial?.ServerCertificate,
                InsecureHttp = insecureHttp,
                MetadataTrust = nodeTrust,
                DirectIo = directIo,
            },
            logging.Apply);
        await using (storage.ConfigureAwait(false))
        {
            await storage.StartAsync(stop.Token).ConfigureAwait(false);
            var (grpc, http) = await storage.Services.GetRequiredService<NodeAddresses>().WhenBound.ConfigureAwait(false);

            if (token is not null)
            {
                Console.WriteLine($"token: {token}");
            }

            await WaitForStorageAsync(store, stop.Token).ConfigureAwait(false);
            if (tlsMaterial is not null)
            {
                // Clients trust the appliance with login --ca PATH (a copy of the file) or --fingerprint.
                Console.WriteLine($"ca: {tlsMaterial.CaCertificatePath}");
                Console.WriteLine($"fingerprint: {tlsMaterial.ServerFingerprint}");
            }

            Console.WriteLine($"storage: {grpc} (presigned links on {http})");

            // The line --storage-nodes N prints per child, so one parser reads both; the node runs in this process, so
            // the pid is the appliance's own (killing it stops the metadata node too), and the line says so.
            Console.WriteLine($"storage-node: {grpc} pid {Environment.ProcessId} (in-process)");
            Console.WriteLine($"metrics: {MetadataNodeHost.MetricsUrl(metadata)}{NodeObservability.MetricsPath}");
            Console.WriteLine($"metrics: {storage.Services.GetRequiredService<OperatorListener>().Url}{NodeObservability.MetricsPath}");
            Console.WriteLine($"ready: {metadataUrl}");

            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Console.WriteLine("stopping...");
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            // Storage first, so its last events reach a metadata node that is still up.
            await storage.StopAsync(grace.Token).ConfigureAwait(false);
            await metadata.StopAsync(grace.Token).ConfigureAwait(false);
        }

        Console.WriteLine("stopped");
        return 0;
    }

    /// <summary>
    /// Whether every listener is TLS: with <c>--tls</c>, and whenever the appliance serves other machines (a bind address
    /// that is not loopback) unless <c>--insecure-http</c> says a TLS-terminating proxy stands in front.
    /// </summary>
    internal static bool UsesTls(IPAddress bind, bool tls, bool insecureHttp) =>
        tls || (!IPAddress.IsLoopback(bind) && !insecureHttp);

    private static void OnSignal(PosixSignalContext context, CancellationTokenSource stop)
    {
        if (stop.IsCancellationRequested)
        {
            // Second Ctrl-C: let the runtime end the process at once.
            return;
        }

        context.Cancel = true;
        stop.Cancel();
    }

    private static string? EnsureFirstUser(MetadataStore store, string data)
    {
        if (store.ListUsers().Count > 0)
        {
            return null;
        }

        var (_, token) = store.AddUser(FirstUser);
        AtomicFile.WriteAllText(Path.Combine(data, TokenFileName), token + "\n");
        return token;
    }

    private static async Task WaitForStorageAsync(MetadataStore store, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (store.LiveNodes().Count == 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new DropboxException(ErrorKind.Unavailable, $"The storage node did not register with the metadata node within {ReadyTimeout.TotalSeconds:0} s; see the log above.");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string UrlHost(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
}
