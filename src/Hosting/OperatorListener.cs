using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Dropbox.Hosting;

/// <summary>
/// The node's operator-only listener (<c>--metrics-url</c>): the one place <c>/metrics</c> is answered. The numbers
/// there are node-wide (chunks stored against deduplicated, chunks held, bytes used, GC deletions), so an account that
/// could scrape them around its own put would learn whether another account stores that content; clients reach the
/// gRPC and presigned-link listeners only, where <c>/metrics</c> is not found. Which listener a request came through is
/// decided by the local endpoint of its connection, compared with this listener's bound endpoint (Kestrel fills in
/// the port once it listens, so port 0 works).
/// </summary>
public sealed class OperatorListener
{
    private volatile Attached? _listener;

    /// <summary>The URL the operator listener is bound to, or null before it listens.</summary>
    public string? Url => Bound() is { } bound ? ListenEndpoint.ToUrl(_listener!.Scheme, bound) : null;

    /// <summary>Whether <paramref name="connection"/> arrived through the operator listener.</summary>
    public bool Accepts(ConnectionInfo connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var bound = Bound();
        if (bound is null || connection.LocalPort != bound.Port)
        {
            return false;
        }

        if (bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any))
        {
            // A wildcard bind owns the port on every address: no other listener can share it.
            return true;
        }

        var local = connection.LocalIpAddress;
        if (local is null)
        {
            return false;
        }

        return local.Equals(bound.Address) || (local.IsIPv4MappedToIPv6 && local.MapToIPv4().Equals(bound.Address));
    }

    /// <summary>Makes <paramref name="listen"/> (configured, not yet bound) the operator listener.</summary>
    public void Attach(string scheme, ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        _listener = new Attached(scheme, listen);
    }

    private IPEndPoint? Bound() => _listener?.Listen.IPEndPoint is { Port: > 0 } bound ? bound : null;

    private sealed record Attached(string Scheme, ListenOptions Listen);
}
