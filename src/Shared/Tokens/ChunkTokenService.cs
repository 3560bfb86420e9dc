using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.Shared.Tokens;

/// <summary>
/// Issues and checks chunk tokens: the presigned-URL pattern over a DataProtection key ring shared by the
/// metadata node (which issues) and the storage nodes (which check).
/// </summary>
/// <remarks>
/// The expiry is carried inside the protected payload rather than by the time-limited protector wrapper,
/// because that wrapper throws the same exception for "expired" as for "forged", and a caller deserves to
/// know which. Tamper-proofing is the same: the whole payload, expiry included, is authenticated.
/// Checking costs one unprotect per call or per chunk header, never per byte.
/// </remarks>
public sealed class ChunkTokenService
{
    /// <summary>DataProtection purpose string; changing it invalidates every outstanding token.</summary>
    public const string Purpose = "Dropbox.ChunkToken.v1";

    /// <summary>Application name shared by every node on one key ring.</summary>
    public const string ApplicationName = "dropbox-appliance";

    private const byte FormatVersion = 1;

    private readonly IDataProtector _protector;
    private readonly IDataProtectionProvider _provider;
    private readonly TimeProvider _time;

    /// <summary>Wraps a protector (already scoped to the application).</summary>
    public ChunkTokenService(IDataProtectionProvider provider, TimeProvider? time = null)
    {
        _provider = provider;
        _protector = provider.CreateProtector(Purpose);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A file-link token service over the same key ring and clock (its own purpose).</summary>
    public FileLinkTokenService FileLinks() => new(_provider, _time);

    /// <summary>A service over the key ring in <paramref name="keyDirectory"/> (created if missing).</summary>
    public static ChunkTokenService ForKeyDirectory(string keyDirectory, TimeProvider? time = null)
    {
        // The key ring signs every token: owner-only, whatever mode its key files were written with.
        Dropbox.Shared.IO.PrivateFolder.CreateAndTightenTree(keyDirectory);
        var services = new ServiceCollection();
        services.AddDataProtection()
            .PersistKeysToFileSystem(new DirectoryInfo(keyDirectory))
            .SetApplicationName(ApplicationName);
        var provider = services.BuildServiceProvider().GetRequiredService<IDataProtectionProvider>();
        return new ChunkTokenService(provider, time);
    }

    /// <summary>Default life of a put or get token.</summary>
    public static TimeSpan DefaultLifetime { get; } = TimeSpan.FromMinutes(15);

    /// <summary>Signs a grant that lasts <paramref name="lifetime"/> from now.</summary>
    public string Issue(TokenOperation operation, string ns, string nodeId, IReadOnlyList<ChunkId> chunkIds, TimeSpan lifetime)
    {
        var expires = _time.GetUtcNow() + lifetime;
        return Issue(new ChunkToken(operation, ns, nodeId, chunkIds, expires));
    }

    /// <summary>
    /// Signs a system grant between the nodes (no account, no chunks) for <paramref name="nodeId"/>, the node that
    /// checks it ("metadata" for the metadata node), lasting <paramref name="lifetime"/> from now.
    /// </summary>
    public string IssueSystem(string nodeId, TimeSpan lifetime) =>
        Issue(TokenOperation.System, NamespaceId.SystemValue, nodeId, [], lifetime);

    /// <summary>
    /// Signs a report grant (<see cref="TokenOperation.NodeReport"/>) from <paramref name="issuingNode"/> to
    /// <paramref name="nodeId"/>, the node that checks it, lasting <paramref name="lifetime"/> from now.
    /// </summary>
    public string IssueNodeReport(string issuingNode, string nodeId, TimeSpan lifetime) =>
        Issue(TokenOperation.NodeReport, issuingNode, nodeId, [], lifetime);

    /// <summary>Signs a grant.</summary>
    public string Issue(ChunkToken token)
    {
        var ns = Encoding.UTF8.GetBytes(token.Namespace);
        var node = Encoding.UTF8.GetBytes(token.NodeId);
        if (ns.Length > 255 || node.Length > 255)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, "Token namespace and node id must be at most 255 bytes.");
        }

        var payload = new byte[1 + 1 + 8 + 1 + ns.Length + 1 + node.Length + 4 + (token.ChunkIds.Count * ChunkId.Size)];
        var span = payload.AsSpan();
        span[0] = FormatVersion;
        span[1] = (byte)token.Operation;
        BinaryPrimitives.WriteInt64BigEndian(span[2..], token.Expires.ToUnixTimeMilliseconds());
        var pos = 10;
        span[pos++] = (byte)ns.Length;
        ns.CopyTo(span[pos..]);
        pos += ns.Length;
        span[pos++] = (byte)node.Length;
        node.CopyTo(span[pos..]);
        pos += node.Length;
        BinaryPrimitives.WriteInt32BigEndian(span[pos..], token.ChunkIds.Count);
        pos += 4;
        foreach (var id in token.ChunkIds)
        {
            id.WriteTo(span[pos..]);
            pos += ChunkId.Size;
        }

        return Base64Url.EncodeToString(_protector.Protect(payload));
    }

    /// <summary>
    /// Reads and authenticates a token, refusing a missing, forged or expired one with
    /// <see cref="ErrorKind.Unauthenticated"/>. Does not check what it grants: see <see cref="Validate"/>.
    /// </summary>
    public ChunkToken Read(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Missing token: ask the metadata node for a signed token for this chunk.");
        }

        byte[] payload;
        try
        {
            payload = _protector.Unprotect(Base64Url.DecodeFromChars(token));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Invalid token: its signature does not verify (forged, corrupted, or from another key ring).", ex);
        }

        var parsed = Parse(payload);
        EnsureUnexpired(parsed);
        return parsed;
    }

    /// <summary>
    /// Refuses (UNAUTHENTICATED) a token read earlier that has expired since: for a caller that checks a signature once
    /// and then uses the token for several chunks.
    /// </summary>
    public void EnsureUnexpired(ChunkToken token)
    {
        if (token.Expires <= _time.GetUtcNow())
        {
            throw new DropboxException(ErrorKind.Unauthenticated, $"Expired token: it expired at {token.Expires:O}; ask the metadata node for a new one.");
        }
    }

    /// <summary>
    /// Authenticates a token and checks that it grants <paramref name="operation"/> on <paramref name="nodeId"/>
    /// (and, if given, <paramref name="chunkId"/>). Wrong operation, node or chunk is
    /// <see cref="ErrorKind.PermissionDenied"/>.
    /// </summary>
    public ChunkToken Validate(string? token, TokenOperation operation, string nodeId, ChunkId? chunkId = null)
    {
        var parsed = Read(token);
        EnsureGrants(parsed, operation, nodeId, chunkId);
        return parsed;
    }

    /// <summary>Checks a parsed token's grant; throws PermissionDenied naming what does not match.</summary>
    public static void EnsureGrants(ChunkToken token, TokenOperation operation, string nodeId, ChunkId? chunkId = null)
    {
        if (token.Operation != operation)
        {
            throw new DropboxException(ErrorKind.PermissionDenied, $"Wrong operation: the token grants '{token.Operation}', this call needs '{operation}'.");
        }

        if (!string.Equals(token.NodeId, nodeId, StringComparison.Ordinal))
        {
            throw new DropboxException(ErrorKind.PermissionDenied, $"Wrong node: the token is for node '{token.NodeId}', this is node '{nodeId}'.");
        }

        if (chunkId is { } id && !token.Covers(id))
        {
            throw new DropboxException(ErrorKind.PermissionDenied, $"Wrong chunk: the token does not cover chunk {id.ToShortString()}.");
        }
    }

    private static ChunkToken Parse(byte[] payload)
    {
        try
        {
            var span = payload.AsSpan();
            if (span[0] != FormatVersion)
            {
                throw new DropboxException(ErrorKind.Unauthenticated, $"Unsupported token format {span[0]}.");
            }

            var op = (TokenOperation)span[1];
            var expires = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(span[2..]));
            var pos = 10;
            int nsLen = span[pos++];
            var ns = Encoding.UTF8.GetString(span.Slice(pos, nsLen));
            pos += nsLen;
            int nodeLen = span[pos++];
            var node = Encoding.UTF8.GetString(span.Slice(pos, nodeLen));
            pos += nodeLen;
            var count = BinaryPrimitives.ReadInt32BigEndian(span[pos..]);
            pos += 4;
            if (count < 0 || pos + ((long)count * ChunkId.Size) != span.Length)
            {
                throw new DropboxException(ErrorKind.Unauthenticated, "Malformed token payload.");
            }

            var ids = new ChunkId[count];
            for (var i = 0; i < count; i++)
            {
                ids[i] = new ChunkId(span.Slice(pos, ChunkId.Size));
                pos += ChunkId.Size;
            }

            return new ChunkToken(op, ns, node, ids, expires);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Malformed token payload.", ex);
        }
    }
}
