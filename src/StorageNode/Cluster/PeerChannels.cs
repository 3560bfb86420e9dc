using System.Collections.Concurrent;
using Grpc.Net.Client;

namespace Dropbox.StorageNode.Cluster;

/// <summary>
/// gRPC channels to other storage nodes (one per URL, kept for the node's life), for the copies the metadata node
/// orders. Peers are trusted as the metadata node is (<see cref="StorageNodeOptions.MetadataTrust"/>): in a deployment
/// one CA signs every node's certificate.
/// </summary>
public sealed class PeerChannels : IDisposable
{
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly StorageNodeOptions _options;

    /// <summary>Creates the cache.</summary>
    public PeerChannels(StorageNodeOptions options)
    {
        _options = options;
    }

    /// <summary>The channel to the node at <paramref name="grpcUrl"/>.</summary>
    public GrpcChannel For(string grpcUrl) => _channels.GetOrAdd(grpcUrl, url => GrpcChannel.ForAddress(url, new GrpcChannelOptions
    {
        MaxReceiveMessageSize = Store.StoreLimits.MaxGrpcMessageBytes,
        MaxSendMessageSize = Store.StoreLimits.MaxGrpcMessageBytes,
        HttpHandler = _options.MetadataTrust.CreateHandler(),
    }));

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }
}
