using System.Net;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.Tls;

/// <summary>
/// Decides whether a node may listen on a URL: plaintext only on loopback, unless the operator said
/// <c>--insecure-http</c> by name; <c>https</c> only with a certificate.
/// </summary>
public static class ListenGuard
{
    /// <summary>Throws an InvalidArgument <see cref="DropboxException"/> for the first URL the node must not listen on.</summary>
    public static void Check(IEnumerable<string> urls, bool haveCertificate, bool insecureHttp)
    {
        ArgumentNullException.ThrowIfNull(urls);
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
                || uri.Scheme is not ("http" or "https"))
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Listen URL '{url}' must look like https://HOST:PORT or http://127.0.0.1:PORT.");
            }

            if (uri.Scheme == Uri.UriSchemeHttps && !haveCertificate)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Listen URL '{url}' is https: give the certificate with --tls-cert FILE --tls-key FILE (PEM).");
            }

            if (uri.Scheme == Uri.UriSchemeHttp && !insecureHttp && !IsLoopback(uri.Host))
            {
                throw new DropboxException(ErrorKind.InvalidArgument,
                    $"Refusing to listen on '{url}' in plaintext: beyond loopback, tokens and file bytes would cross the network in the clear. " +
                    "Use an https:// URL with --tls-cert FILE --tls-key FILE, or pass --insecure-http if something in front of the node terminates TLS.");
            }
        }
    }

    /// <summary>True for localhost and loopback addresses (127.0.0.0/8, ::1); false for wildcards and everything else.</summary>
    public static bool IsLoopback(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
    }
}
