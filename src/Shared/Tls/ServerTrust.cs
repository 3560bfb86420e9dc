using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.Tls;

/// <summary>
/// Which server certificates a caller accepts: those that chain to a given CA (custom root trust, not the system
/// store), the one certificate with a pinned SHA-256 fingerprint, or (the default) those the system trusts.
/// Every outgoing channel of a client or node applies one instance through <see cref="Apply"/>, so the decision
/// lives here only. A refusal throws a <see cref="DropboxException"/> (PermissionDenied) that names the expected
/// and the presented fingerprint; it travels as the inner exception of the failed connection.
/// </summary>
public sealed class ServerTrust
{
    private readonly X509Certificate2Collection? _roots;
    private readonly string? _pin;
    private readonly string _source;

    private ServerTrust(X509Certificate2Collection? roots, string? pin, string source)
    {
        _roots = roots;
        _pin = pin;
        _source = source;
    }

    /// <summary>Certificates the operating system trusts.</summary>
    public static ServerTrust System { get; } = new(null, null, "the system's trusted CAs");

    /// <summary>What is trusted, for status output: the CA fingerprints, the pinned fingerprint, or the system's CAs.</summary>
    public string Description => _roots is not null
        ? $"certificates issued by {RootsNamed()} ({_source})"
        : _pin is not null ? $"exactly the certificate {_pin}" : _source;

    /// <summary>True when no CA or fingerprint was given.</summary>
    public bool IsSystem => _roots is null && _pin is null;

    /// <summary>Trusts certificates issued by the CA certificate(s) in PEM text.</summary>
    public static ServerTrust ForCaPem(string pem, string source) => new(ServerCertificate.ParseBundle(pem, source), null, source);

    /// <summary>Trusts certificates issued by the CA certificate(s) in a PEM file.</summary>
    public static ServerTrust ForCaFile(string file, string option) => new(ServerCertificate.LoadBundle(file, option), null, $"{option} '{file}'");

    /// <summary>Trusts exactly the certificate with this fingerprint (see <see cref="CertificateFingerprint"/>).</summary>
    public static ServerTrust ForFingerprint(string fingerprint) => new(null, CertificateFingerprint.Parse(fingerprint), "the pinned fingerprint");

    /// <summary>Makes <paramref name="handler"/> validate server certificates with this trust; returns it.</summary>
    public SocketsHttpHandler Apply(SocketsHttpHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        handler.SslOptions.RemoteCertificateValidationCallback = Validate;
        return handler;
    }

    /// <summary>A handler (for gRPC channels and HTTP clients) with this trust applied.</summary>
    public SocketsHttpHandler CreateHandler() => Apply(new SocketsHttpHandler());

    /// <summary>The validation callback: true to accept; throws with a clear message to refuse.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            throw Refused("The server presented no TLS certificate.");
        }

        var seen = CertificateFingerprint.Of(certificate);
        if (_pin is not null)
        {
            return seen == _pin
                ? true
                : throw Refused($"The server's TLS certificate is not the pinned one: expected {_pin}, the server presented {seen} ({certificate.Subject}). If the server's certificate was replaced, log in again with its new fingerprint.");
        }

        if (_roots is null)
        {
            return errors == SslPolicyErrors.None
                ? true
                : throw Refused($"The server's TLS certificate {seen} ({certificate.Subject}, issued by {certificate.Issuer}) is not trusted by this system ({errors}). Give the server's CA with --ca FILE or pin its certificate with --fingerprint SHA256:HEX.");
        }

        using var leaf = new X509Certificate2(certificate);
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            // Intermediates the server sent along.
            foreach (var element in chain.ChainElements)
            {
                if (!element.Certificate.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }
        }

        var expected = RootsNamed();
        if (!custom.Build(leaf))
        {
            var why = string.Join("; ", custom.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            throw Refused($"The server's TLS certificate {seen} ({leaf.Subject}, issued by {leaf.Issuer}) is not issued by the CA you trust ({_source}, {expected}): {why}");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            throw Refused($"The server's TLS certificate {seen} ({leaf.Subject}) is issued by the trusted CA ({expected}) but does not name the host you connected to.");
        }

        return true;
    }

    private static DropboxException Refused(string message) => new(ErrorKind.PermissionDenied, message);

    /// <summary>Most CA fingerprints a message names: a bundle of a system's roots (~140) would bury the message.</summary>
    internal const int MaxRootsNamed = 3;

    /// <summary>The trusted CAs' fingerprints, the first <see cref="MaxRootsNamed"/> of them and how many more.</summary>
    private string RootsNamed()
    {
        if (_roots is not { } roots)
        {
            return string.Empty;
        }

        var named = string.Join(" or ", roots.Take(MaxRootsNamed).Select(CertificateFingerprint.Of));
        return roots.Count > MaxRootsNamed ? $"{named} or {roots.Count - MaxRootsNamed} more CA(s) in the file" : named;
    }
}
