using Dropbox.Shared.Channels;
using Dropbox.Shared.Tls;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// The client's gRPC channels: one <see cref="GrpcChannelCache"/> per client, whose channels (metadata node and storage
/// nodes alike) validate https servers with the one <see cref="ServerTrust"/> the client was logged in with.
/// </summary>
internal static class ClientChannels
{
    /// <summary>
    /// Large answers (download plans, listings) in, chunk batches out; quick reconnects; keep-alive pings over long
    /// polls and idle daemons.
    /// </summary>
    public static readonly GrpcChannelSettings Settings = new()
    {
        MaxReceiveMessageBytes = 256 << 20,
        MaxSendMessageBytes = 64 << 20,

        // gRPC's own reconnect back-off grows to 120 s, and while it waits every call fails at once: a server back
        // after a minute down would go unnoticed for up to two more. The daemon paces its own retries and probes.
        InitialReconnectBackoff = TimeSpan.FromMilliseconds(500),
        MaxReconnectBackoff = TimeSpan.FromSeconds(2),
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        KeepAlivePingDelay = TimeSpan.FromSeconds(60),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
    };

    static ClientChannels()
    {
        // Nodes on a LAN or 127.0.0.1 speak gRPC over plain-text HTTP/2 (h2c).
        AppContext.SetSwitch("System.Net.Http.SocketsHttpHandler.Http2UnencryptedSupport", true);
    }

    /// <summary>A new, empty cache of the client's channels.</summary>
    public static GrpcChannelCache Create(ServerTrust trust) => new(trust, Settings);
}
