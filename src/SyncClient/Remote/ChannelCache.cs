using System.Collections.Concurrent;
using Dropbox.Shared.Tls;
using Grpc.Net.Client;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// One gRPC channel per URL, reused for the life of the client (channels pool HTTP/2 connections). Every channel
/// the client opens (metadata node and storage nodes alike) comes from here and validates https servers with the
/// one <see cref="ServerTrust"/> the client was logged in with.
/// </summary>
internal sealed class ChannelCache : IDisposable
{
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly ServerTrust _trust;

    public ChannelCache(ServerTrust trust)
    {
        _trust = trust;
    }

    static ChannelCache()
    {
        // Nodes on a LAN or 127.0.0.1 speak gRPC over plain-text HTTP/2 (h2c).
        AppContext.SetSwitch("System.Net.Http.SocketsHttpHandler.Http2UnencryptedSupport", true);
    }

    public GrpcChannel Get(string url) => _channels.GetOrAdd(url.TrimEnd('/'), u => GrpcChannel.ForAddress(u, new GrpcChannelOptions
    {
        MaxReceiveMessageSize = 256 << 20,
        MaxSendMessageSize = 64 << 20,

        // gRPC's own reconnect back-off grows to 120 s, and while it waits every call fails at once: a server back
        // after a minute down would go unnoticed for up to two more. The daemon paces its own retries and probes.
        InitialReconnectBackoff = TimeSpan.FromMilliseconds(500),
        MaxReconnectBackoff = TimeSpan.FromSeconds(2),
        HttpHandler = _trust.Apply(new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        }),
    }));

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }
}
