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
    // One lock for lookups, creation and Dispose: a Get racing Dispose cannot add a channel after the clear, a
    // channel is built once per URL, and a failed build is not remembered (the next Get tries again). Building a
    // channel opens no connection, so holding the lock across it is cheap.
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly ServerTrust _trust;
    private readonly GrpcChannelSettings _settings;
    private bool _disposed;
    private int _created;

    /// <summary>Creates an empty cache whose channels trust <paramref name="trust"/> and carry messages up to <paramref name="maxMessageBytes"/>.</summary>
    public GrpcChannelCache(ServerTrust trust, int maxMessageBytes)
        : this(trust, GrpcChannelSettings.WithMessageLimit(maxMessageBytes))
    {
    }

    /// <summary>Creates an empty cache whose channels trust <paramref name="trust"/> and are built with <paramref name="settings"/>.</summary>
    public GrpcChannelCache(ServerTrust trust, GrpcChannelSettings settings)
    {
        ArgumentNullException.ThrowIfNull(trust);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxReceiveMessageBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxSendMessageBytes);
        _trust = trust;
        _settings = settings;
    }

    /// <summary>Channels open now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _channels.Count;
            }
        }
    }

    /// <summary>Channels built so far (each URL's once, unless its build failed).</summary>
    public int Created => Volatile.Read(ref _created);

    /// <summary>The channel to <paramref name="url"/> (an absolute http or https URL), opened on first use.</summary>
    public GrpcChannel Get(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"'{url}' is not an absolute http or https URL of a gRPC server.", nameof(url));
        }

        var key = url.TrimEnd('/');
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_channels.TryGetValue(key, out var channel))
            {
                channel = GrpcChannel.ForAddress(key, Options());
                _channels[key] = channel;
                Interlocked.Increment(ref _created);
            }

            return channel;
        }
    }

    private GrpcChannelOptions Options()
    {
        var handler = _trust.CreateHandler();
        handler.EnableMultipleHttp2Connections = _settings.EnableMultipleHttp2Connections;
        if (_settings.PooledConnectionIdleTimeout is { } idle)
        {
            handler.PooledConnectionIdleTimeout = idle;
        }

        if (_settings.KeepAlivePingDelay is { } delay)
        {
            handler.KeepAlivePingDelay = delay;
        }

        if (_settings.KeepAlivePingTimeout is { } timeout)
        {
            handler.KeepAlivePingTimeout = timeout;
        }

        var options = new GrpcChannelOptions
        {
            MaxReceiveMessageSize = _settings.MaxReceiveMessageBytes,
            MaxSendMessageSize = _settings.MaxSendMessageBytes,
            HttpHandler = handler,
        };
        if (_settings.InitialReconnectBackoff is { } initial)
        {
            options.InitialReconnectBackoff = initial;
        }

        if (_settings.MaxReconnectBackoff is { } max)
        {
            options.MaxReconnectBackoff = max;
        }

        return options;
    }

    /// <summary>Closes every channel; <see cref="Get"/> throws afterwards.</summary>
    public void Dispose()
    {
        List<GrpcChannel> channels;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            channels = [.. _channels.Values];
            _channels.Clear();
        }

        foreach (var channel in channels)
        {
            channel.Dispose();
        }
    }
}
