using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Dropbox.MetadataNode;

/// <summary>The metadata node's Kestrel listeners, kept to read the bound ports back after start (port 0).</summary>
internal sealed class MetadataNodeEndpoints
{
    /// <summary>gRPC listeners (HTTP/2; https ones serve HTTP/1.1 too, by ALPN).</summary>
    public List<(string Scheme, ListenOptions Listen)> Grpc { get; } = [];

    /// <summary>The HTTP/1.1 listener for probes and scrapes, if configured.</summary>
    public (string Scheme, ListenOptions Listen)? Http { get; set; }
}
