using System.Globalization;
using System.Net;
using Dropbox.Shared.Errors;

namespace Dropbox.Hosting;

/// <summary>Listen URLs of both node kinds: parsed to a Kestrel endpoint, and a bound endpoint back to a URL to dial.</summary>
public static class ListenEndpoint
{
    /// <summary>Parses http(s)://IP-or-localhost:PORT (<c>*</c> and <c>+</c> mean every IPv4 address); InvalidArgument otherwise.</summary>
    public static Uri Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var normalized = url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || (uri.Host != "localhost" && !IPAddress.TryParse(uri.Host.Trim('[', ']'), out _)))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Listen URL '{url}' must look like https://0.0.0.0:5081 or http://127.0.0.1:5081 (an IP address or localhost).");
        }

        return uri;
    }

    /// <summary>The endpoint to bind for a parsed URL (localhost = 127.0.0.1).</summary>
    public static IPEndPoint ToEndpoint(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return new(uri.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port);
    }

    /// <summary>A URL that reaches a bound endpoint from this machine (a wildcard address becomes loopback).</summary>
    public static string ToUrl(string scheme, IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var host = endpoint.Address.Equals(IPAddress.Any) ? "127.0.0.1"
            : endpoint.Address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]"
            : endpoint.Address.ToString();
        return string.Create(CultureInfo.InvariantCulture, $"{scheme}://{host}:{endpoint.Port}");
    }
}
