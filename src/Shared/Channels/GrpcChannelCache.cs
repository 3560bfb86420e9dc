using System.Collections.Concurrent;
using Dropbox.Shared.Tls;
using Grpc.Net.Client;

namespace Dropbox.Shared.Channels;

/// <summary>
/// One gRPC channel per URL, kept for the owner's life (a channel pools its HTTP/2 connections), every one validating
/// https servers with the one <see cref="ServerTrust"/> given. The node-to-node callers share it: the metadata node's
/// storage-node and replication gateways, and a storage node's pushes to its peers. Concurrent first calls for a URL
/// get the same channel (no second one is built and left undisposed); a URL with or without a trailing slash is one.
/// </summary>
public sealed class GrpcChannelCache : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<GrpcChannel>> _channels = new(StringComparer.Ordinal);
    private readonly ServerTrust _trust;
    private readonly int _maxMessageBytes;
    private int _disposed;

    /// <summary>Creates an empty cache whose channels trust <paramref name="trust"/> and carry messages up to <paramref name="maxMessageBytes"/>.</summary>
    public GrpcChannelCache(ServerTrust trust, int maxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(trust);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessageBytes);
        _trust = trust;
        _maxMessageBytes = maxMessageBytes;
    }

    /// <summary>Channels open now.</summary>
    public int Count => _channels.Count;

    /// <summary>The channel to <paramref name="url"/> (an absolute http or https URL), opened on first use.</summary>
    public GrpcChannel Get(string url)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"'{url}' is not an absolute http or https URL of a gRPC server.", nameof(url));
        }

        var key = url.TrimEnd('/');
        return _channels.GetOrAdd(key, k => new Lazy<GrpcChannel>(() => GrpcChannel.ForAddress(k, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = _maxMessageBytes,
            MaxSendMessageSize = _maxMessageBytes,
            HttpHandler = _trust.CreateHandler(),
        }))).Value;
    }

    /// <summary>Closes every channel; <see cref="Get"/> throws afterwards.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var channel in _channels.Values)
        {
            if (channel.IsValueCreated)
            {
                channel.Value.Dispose();
            }
        }

        _channels.Clear();
    }
}
