using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.Tls;

/// <summary>
/// A certificate's SHA-256 fingerprint in the form <c>SHA256:</c> followed by 64 lower-case hex digits (the hash of
/// the DER encoding, as <c>openssl x509 -fingerprint -sha256</c> computes it). Parsing also accepts upper case and
/// colons between the bytes, so the openssl form can be pasted as is.
/// </summary>
public static class CertificateFingerprint
{
    /// <summary>The prefix of the printed form.</summary>
    public const string Prefix = "SHA256:";

    /// <summary>The fingerprint of <paramref name="certificate"/>.</summary>
    public static string Of(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Prefix + Convert.ToHexStringLower(SHA256.HashData(certificate.GetRawCertData()));
    }

    /// <summary>Parses a fingerprint; throws an InvalidArgument <see cref="DropboxException"/> saying what is wrong.</summary>
    public static string Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        var hex = t.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) ? t[Prefix.Length..] : t;
        hex = hex.Replace(":", string.Empty, StringComparison.Ordinal);
        if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"A certificate fingerprint is SHA256: followed by 64 hex digits (as 'standalone' prints it); got '{text}'.");
        }

        return Prefix + hex.ToLowerInvariant();
    }
}
