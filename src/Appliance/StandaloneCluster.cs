using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;
using Dropbox.Hosting;
using Dropbox.MetadataNode;
using Microsoft.AspNetCore.Builder;

namespace Dropbox.Appliance;

/// <summary>
/// The rest of <c>standalone --storage-nodes N</c> (N &gt; 1) once the metadata node runs: the storage nodes as child
/// processes (<see cref="StorageNodeChildren"/>), one <c>storage-node: URL pid PID</c> and one <c>metrics: URL</c> line
/// per node, <c>ready:</c> once every node has registered, then until Ctrl-C or SIGTERM.
/// </summary>
internal static class StandaloneCluster
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>What <c>standalone</c> was asked for: storage nodes, replicas, seconds of silence before a node is dead.</summary>
    public sealed record Topology(int StorageNodes = 1, int Replicas = 1, int? NodeDeadAfterSeconds = null)
    {
        /// <summary>Refuses a topology that cannot work, naming the flag.</summary>
        public void Validate()
        {
            if (StorageNodes is < 1 or > 32)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"--storage-nodes must be 1-32; got {StorageNodes}.");
            }

            if (Replicas < 1 || Replicas > StorageNodes)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"--replicas must be 1 to --storage-nodes ({StorageNodes}); got {Replicas}.");
            }

            if (NodeDeadAfterSeconds is { } s && s < MetadataNodeOptions.MinNodeDeadAfterSeconds)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, MetadataNodeOptions.NodeDeadAfterTooShort(s));
            }
        }

        /// <summary>The metadata node's options for this topology.</summary>
        public MetadataNodeOptions Apply(MetadataNodeOptions options)
        {
            options = options with { ReplicationFactor = Replicas };
            return NodeDeadAfterSeconds is { } s ? options.WithNodeDeadAfter(TimeSpan.FromSeconds(s)) : options;
        }
    }

    /// <summary>Runs the child nodes beside the started metadata node until <paramref name="stop"/>; returns the exit code.</summary>
    public static async Task<int> RunAsync(WebApplication metadata, MetadataStore store, string metadataUrl, string? token, LocalTlsMaterial? tlsMaterial, string data, string scheme, string host, string metricsHost, int port, bool insecureHttp, NodeLogging logging, Topology topology, bool directIo, CancellationToken stop)
    {
        var children = await StorageNodeChildren.StartAsync(topology.StorageNodes, data, Path.Combine(data, "keys"), metadataUrl, scheme, host, metricsHost, port, tlsMaterial is not null, insecureHttp, logging, directIo, stop).ConfigureAwait(false);
        await using (children.ConfigureAwait(false))
        {
            if (token is not null)
            {
                Console.WriteLine($"token: {token}");
            }

            var deadline = DateTime.UtcNow + ReadyTimeout;
            while (store.LiveNodes().Count < topology.StorageNodes)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new DropboxException(ErrorKind.Unavailable, $"Only {store.LiveNodes().Count} of {topology.StorageNodes} storage nodes registered with the metadata node within {ReadyTimeout.TotalSeconds:0} s; see the log above.");
                }

                await Task.Delay(50, stop).ConfigureAwait(false);
            }

            if (tlsMaterial is not null)
            {
                Console.WriteLine($"ca: {tlsMaterial.CaCertificatePath}");
                Console.WriteLine($"fingerprint: {tlsMaterial.ServerFingerprint}");
            }

            foreach (var node in children.Nodes)
            {
                Console.WriteLine($"storage-node: {node.GrpcUrl} pid {node.Pid}");
            }

            Console.WriteLine($"metrics: {MetadataNodeHost.MetricsUrl(metadata)}{NodeObservability.MetricsPath}");
            foreach (var node in children.Nodes)
            {
                Console.WriteLine($"metrics: {node.MetricsUrl}");
            }

            Console.WriteLine($"replicas: {topology.Replicas}");
            Console.WriteLine($"ready: {metadataUrl}");

            try
            {
                await Task.Delay(Timeout.Infinite, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Console.WriteLine("stopping...");
            // Storage first, so their last events reach a metadata node that is still up.
            await children.StopAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        }

        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await metadata.StopAsync(grace.Token).ConfigureAwait(false);
        Console.WriteLine("stopped");
        return 0;
    }
}
