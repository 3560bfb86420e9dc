using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.Tls;

/// <summary>Loads the certificate a node serves TLS with (<c>--tls-cert FILE --tls-key FILE</c>, both PEM).</summary>
public static class ServerCertificate
{
    /// <summary>
    /// Reads a PEM certificate (the server's first, then any intermediates, which are ignored here) and its PEM
    /// private key. Throws an InvalidArgument <see cref="DropboxException"/> naming the file and the problem.
    /// </summary>
    public static X509Certificate2 Load(string certificateFile, string keyFile)
    {
        ArgumentNullException.ThrowIfNull(certificateFile);
        ArgumentNullException.ThrowIfNull(keyFile);
        foreach (var (file, option) in new[] { (certificateFile, "--tls-cert"), (keyFile, "--tls-key") })
        {
            if (!File.Exists(file))
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"{option}: no such file '{file}'.");
            }
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        }
        catch (CryptographicException ex)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Could not load the TLS certificate '{certificateFile}' with the key '{keyFile}' (both must be PEM and belong together): {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new DropboxException(ErrorKind.InvalidArgument, $"The key '{keyFile}' does not hold the private key of '{certificateFile}'.");
        }

        if (OperatingSystem.IsWindows())
        {
            // SChannel refuses ephemeral keys; a PKCS#12 round trip gives the key a container.
            using var ephemeral = certificate;
            certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }

        return certificate;
    }

    /// <summary>Reads every certificate in a PEM file (a CA bundle); throws if it holds none.</summary>
    public static X509Certificate2Collection LoadBundle(string file, string option)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (!File.Exists(file))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"{option}: no such file '{file}'.");
        }

        return ParseBundle(File.ReadAllText(file), $"{option} '{file}'");
    }

    /// <summary>Parses every certificate in PEM text; throws if it holds none.</summary>
    public static X509Certificate2Collection ParseBundle(string pem, string what)
    {
        var bundle = new X509Certificate2Collection();
        try
        {
            bundle.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"{what} is not a PEM certificate file: {ex.Message}", ex);
        }

        return bundle.Count > 0
            ? bundle
            : throw new DropboxException(ErrorKind.InvalidArgument, $"{what} holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }
}
