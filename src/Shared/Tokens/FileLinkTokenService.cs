using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Dropbox.Shared.Errors;
using Microsoft.AspNetCore.DataProtection;

namespace Dropbox.Shared.Tokens;

/// <summary>
/// Issues and reads file-link tokens (<c>link PATH</c>): the metadata node signs them, storage nodes check them before
/// they ask the metadata node for the version's chunks. Same key ring as <see cref="ChunkTokenService"/>, another
/// DataProtection purpose, so a chunk token is never a link and a link never a chunk token.
/// </summary>
/// <remarks>
/// As with chunk tokens the expiry sits inside the authenticated payload, so a reader can tell "expired" (HTTP 410)
/// from "forged" (403): <see cref="Read"/> authenticates only, <see cref="IsExpired"/> and <see cref="EnsureUnexpired"/>
/// look at the time.
/// </remarks>
public sealed class FileLinkTokenService
{
    /// <summary>DataProtection purpose string; changing it invalidates every outstanding link.</summary>
    public const string Purpose = "Dropbox.FileLink.v1";

    /// <summary>Default life of a link.</summary>
    public static TimeSpan DefaultLifetime { get; } = TimeSpan.FromHours(1);

    /// <summary>Longest life a link may be given.</summary>
    public static TimeSpan MaxLifetime { get; } = TimeSpan.FromDays(7);

    private const byte FormatVersion = 2;
    private const int HeaderBytes = 1 + 8 + 8 + 8 + 1 + 2;

    private readonly IDataProtector _protector;
    private readonly TimeProvider _time;

    /// <summary>Wraps a protector (already scoped to the application).</summary>
    public FileLinkTokenService(IDataProtectionProvider provider, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _protector = provider.CreateProtector(Purpose);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Signs a link to <paramref name="version"/> of <paramref name="path"/> that lasts <paramref name="lifetime"/> from now.</summary>
    public string Issue(string ns, string path, ulong version, TimeSpan lifetime, ulong epoch, out DateTimeOffset expires)
    {
        expires = _time.GetUtcNow() + lifetime;
        return Issue(new FileLink(ns, path, version, expires, epoch));
    }

    /// <summary>Signs a link.</summary>
    public string Issue(FileLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        var ns = Encoding.UTF8.GetBytes(link.Namespace);
        var path = Encoding.UTF8.GetBytes(link.Path);
        if (ns.Length > byte.MaxValue || path.Length > ushort.MaxValue)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, "A link's namespace must be at most 255 bytes and its path at most 65535.");
        }

        var payload = new byte[HeaderBytes + ns.Length + path.Length];
        var span = payload.AsSpan();
        span[0] = FormatVersion;
        BinaryPrimitives.WriteInt64BigEndian(span[1..], link.Expires.ToUnixTimeMilliseconds());
        BinaryPrimitives.WriteUInt64BigEndian(span[9..], link.Version);
        BinaryPrimitives.WriteUInt64BigEndian(span[17..], link.Epoch);
        span[25] = (byte)ns.Length;
        BinaryPrimitives.WriteUInt16BigEndian(span[26..], (ushort)path.Length);
        ns.CopyTo(span[HeaderBytes..]);
        path.CopyTo(span[(HeaderBytes + ns.Length)..]);
        return Base64Url.EncodeToString(_protector.Protect(payload));
    }

    /// <summary>
    /// Authenticates a link token and reads what it grants, expired or not; a missing, malformed, forged one or one
    /// from another key ring is refused with <see cref="ErrorKind.Unauthenticated"/>.
    /// </summary>
    public FileLink Read(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 8192)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Invalid link: it carries no token; ask for a new one with 'link PATH'.");
        }

        byte[] payload;
        try
        {
            payload = _protector.Unprotect(Base64Url.DecodeFromChars(token));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Invalid link: its signature does not verify (altered, truncated, or from another appliance).", ex);
        }

        var span = payload.AsSpan();
        if (span.Length < HeaderBytes || span[0] != FormatVersion)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Invalid link: unsupported token format.");
        }

        var expires = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(span[1..]));
        var version = BinaryPrimitives.ReadUInt64BigEndian(span[9..]);
        var epoch = BinaryPrimitives.ReadUInt64BigEndian(span[17..]);
        int nsLength = span[25];
        int pathLength = BinaryPrimitives.ReadUInt16BigEndian(span[26..]);
        if (span.Length != HeaderBytes + nsLength + pathLength)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Invalid link: malformed token payload.");
        }

        var ns = Encoding.UTF8.GetString(span.Slice(HeaderBytes, nsLength));
        var path = Encoding.UTF8.GetString(span.Slice(HeaderBytes + nsLength, pathLength));
        return new FileLink(ns, path, version, expires, epoch);
    }

    /// <summary>True once the link's time is up.</summary>
    public bool IsExpired(FileLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        return link.Expires <= _time.GetUtcNow();
    }

    /// <summary>Refuses an expired link with <see cref="ErrorKind.Unauthenticated"/>, naming when it expired.</summary>
    public void EnsureUnexpired(FileLink link)
    {
        if (IsExpired(link))
        {
            throw new DropboxException(ErrorKind.Unauthenticated, $"Expired link: it expired at {link.Expires:O}; ask for a new one with 'link PATH'.");
        }
    }
}
