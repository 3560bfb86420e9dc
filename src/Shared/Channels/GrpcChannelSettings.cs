namespace Dropbox.Shared.Channels;

/// <summary>
/// How the channels of a <see cref="GrpcChannelCache"/> are built: message limits, reconnect back-off and HTTP/2
/// keep-alive. Immutable; derive variants with <c>with</c>. A null setting keeps gRPC's or the handler's default.
/// </summary>
public sealed record GrpcChannelSettings
{
    /// <summary>Largest message a channel receives, in bytes.</summary>
    public required int MaxReceiveMessageBytes { get; init; }

    /// <summary>Largest message a channel sends, in bytes.</summary>
    public required int MaxSendMessageBytes { get; init; }

    /// <summary>First wait before reconnecting to a server that went away.</summary>
    public TimeSpan? InitialReconnectBackoff { get; init; }

    /// <summary>Longest wait between reconnect attempts (every call fails at once while it waits).</summary>
    public TimeSpan? MaxReconnectBackoff { get; init; }

    /// <summary>Open a second HTTP/2 connection when one is at its stream limit.</summary>
    public bool EnableMultipleHttp2Connections { get; init; }

    /// <summary>How long an idle pooled connection is kept.</summary>
    public TimeSpan? PooledConnectionIdleTimeout { get; init; }

    /// <summary>Idle time after which an HTTP/2 ping checks that the connection still lives.</summary>
    public TimeSpan? KeepAlivePingDelay { get; init; }

    /// <summary>How long a keep-alive ping may go unanswered before the connection is dropped.</summary>
    public TimeSpan? KeepAlivePingTimeout { get; init; }

    /// <summary>Node-to-node channels: one message limit both ways, every other setting the default.</summary>
    public static GrpcChannelSettings WithMessageLimit(int maxMessageBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessageBytes);
        return new GrpcChannelSettings { MaxReceiveMessageBytes = maxMessageBytes, MaxSendMessageBytes = maxMessageBytes };
    }
}
