using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Google.Protobuf;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Accounts: users, their bearer tokens (only hashes are stored), roles and quotas, and the namespace each owns.
/// Knows nothing of files or the wire.
/// </summary>
internal sealed class Accounts
{
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly ConcurrentDictionary<string, NamespaceState> _namespaces;
    private readonly ConcurrentDictionary<string, UserInfo> _tokenCache = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock;

    public Accounts(RocksEngine engine, StoreTransactions transactions, ConcurrentDictionary<string, NamespaceState> namespaces, TimeProvider clock)
    {
        _engine = engine;
        _transactions = transactions;
        _namespaces = namespaces;
        _clock = clock;
    }

    /// <summary>A random, non-zero change-log epoch (a cursor from another epoch is refused).</summary>
    public static ulong NewEpoch() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) | 1;

    /// <summary>
    /// Creates a user with a fresh namespace and returns the bearer token (shown once; only its hash is kept). The first
    /// user of a store is an admin whatever <paramref name="admin"/> says.
    /// </summary>
    public (UserInfo User, string Token) AddUser(string name, bool admin = false, ulong quotaBytes = 0)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"A user name is 1-64 characters of letters, digits, '-', '_' or '.'; got '{name}'.");
        }

        var token = NewToken();
        var nsId = new NamespaceId("ns-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));
        var added = _transactions.WriteNow(batch =>
        {
            if (_engine.Get(Keys.UserByName(name), _engine.Users) is not null)
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"User '{name}' already exists.");
            }

            admin |= !_engine.ScanPrefix(_engine.Users, Keys.UserByNamePrefix).Any();
            var user = new UserRecord
            {
                Name = name,
                NamespaceId = nsId.Value,
                TokenHash = ByteString.CopyFrom(HashToken(token)),
                CreatedUnixMs = _clock.GetUtcNow().ToUnixTimeMilliseconds(),
                Admin = admin,
            };
            var ns = new NamespaceRecord
            {
                NamespaceId = nsId.Value,
                Owner = name,
                Epoch = NewEpoch(),
                QuotaBytes = quotaBytes,
            };
            batch.PutUser(user);
            batch.PutNamespace(ns);
            return (Namespace: ns, User: new UserInfo(name, nsId, admin));
        }, created => _namespaces[created.Namespace.NamespaceId] = new NamespaceState(created.Namespace));
        return (added.User, token);
    }

    /// <summary>The user a bearer token belongs to; Unauthenticated if none.</summary>
    public UserInfo Authenticate(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Missing credentials: send 'authorization: Bearer <token>' (create a user with 'user add NAME').");
        }

        if (_tokenCache.TryGetValue(token, out var cached))
        {
            return cached;
        }

        if (token.Length > 512)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Unknown token.");
        }

        var bytes = _engine.Get(Keys.UserByTokenHash(HashToken(token)), _engine.Users)
            ?? throw new DropboxException(ErrorKind.Unauthenticated, "Unknown token: it belongs to no user of this server.");
        var record = UserRecord.Parser.ParseFrom(bytes);
        var user = new UserInfo(record.Name, new NamespaceId(record.NamespaceId), record.Admin);
        _tokenCache[token] = user;

        // A rotate or remove between the read and the cache insert must not leave the old token cached.
        if (_engine.Get(Keys.UserByTokenHash(HashToken(token)), _engine.Users) is null)
        {
            _tokenCache.TryRemove(token, out _);
            throw new DropboxException(ErrorKind.Unauthenticated, "Unknown token: it belongs to no user of this server.");
        }

        return user;
    }

    /// <summary>Every user name with its namespace.</summary>
    public IReadOnlyList<UserInfo> ListUsers() =>
        _engine.ScanPrefix(_engine.Users, Keys.UserByNamePrefix)
            .Select(kv => UserRecord.Parser.ParseFrom(kv.Value))
            .Select(r => new UserInfo(r.Name, new NamespaceId(r.NamespaceId), r.Admin))
            .ToList();

    /// <summary>Every user with role, quota and usage, by name.</summary>
    public IReadOnlyList<UserDetails> ListUserDetails() =>
        _engine.ScanPrefix(_engine.Users, Keys.UserByNamePrefix)
            .Select(kv => Details(UserRecord.Parser.ParseFrom(kv.Value)))
            .ToList();

    /// <summary>One user with role, quota and usage; NotFound if there is no such user.</summary>
    public UserDetails GetUserDetails(string name) => Details(ReadUser(name));

    /// <summary>
    /// Revokes a user's token at once and marks the account removed, in one durable write: nothing more is written to it,
    /// and <see cref="AccountPurger"/> deletes its files, versions, change log and chunk marks in the background (chunks
    /// no other account references then go through the collector's grace). NotFound if there is no such user.
    /// </summary>
    public void RemoveUser(string name)
    {
        _transactions.WriteNow(batch =>
        {
            var user = ReadUser(name);
            batch.DeleteUser(user);
            if (!_namespaces.TryGetValue(user.NamespaceId, out var state))
            {
                return (State: (NamespaceState?)null, Record: (NamespaceRecord?)null);
            }

            var removed = state.Record.Clone();
            removed.Removed = true;
            batch.PutNamespace(removed);
            return (State: state, Record: removed);
        }, done =>
        {
            if (done.State is not null)
            {
                done.State.Record = done.Record!;
            }

            ForgetCachedTokens(name); // even when forcing the WAL then fails: the token hash is gone from every read
        });
    }

    /// <summary>Gives a user a new token and revokes the old one at once; returns the new token (shown once).</summary>
    public string RotateToken(string name)
    {
        var token = NewToken();
        _transactions.WriteNow<object?>(batch =>
        {
            var record = ReadUser(name);
            var updated = record.Clone();
            updated.TokenHash = ByteString.CopyFrom(HashToken(token));
            updated.LinkEpoch = record.LinkEpoch + 1; // every link signed under the old token stops resolving
            batch.DeleteUser(record);
            batch.PutUser(updated);
            return null;
        }, _ => ForgetCachedTokens(name)); // even when forcing the WAL then fails: the old token no longer authenticates
        return token;
    }

    /// <summary>
    /// The link epoch of the user owning namespace <paramref name="namespaceId"/>: signed into each new link, and a link
    /// of another epoch (made before a token rotation) is refused. NotFound once the owner's account is removed.
    /// </summary>
    public ulong LinkEpoch(string owner, string namespaceId)
    {
        var record = _engine.Get(Keys.UserByName(owner), _engine.Users) is { } bytes ? UserRecord.Parser.ParseFrom(bytes) : null;
        if (record is null || !string.Equals(record.NamespaceId, namespaceId, StringComparison.Ordinal))
        {
            throw new DropboxException(ErrorKind.NotFound, "The account this link belongs to no longer exists.");
        }

        return record.LinkEpoch;
    }

    /// <summary>Sets the most bytes of live files the user's account may hold (0 = none); applies to the next upload.</summary>
    public async Task<UserDetails> SetQuotaAsync(string name, ulong quotaBytes)
    {
        var user = ReadUser(name);
        if (!_namespaces.TryGetValue(user.NamespaceId, out var ns))
        {
            throw new DropboxException(ErrorKind.NotFound, $"The namespace of user '{name}' is missing.");
        }

        await _transactions.MutateDurableAsync<object?>(ns, (_, record) =>
        {
            record!.QuotaBytes = quotaBytes;
            return null;
        }).ConfigureAwait(false);
        return Details(user);
    }

    /// <summary>Gives the oldest user of a store made before admins existed the admin role, so the store has one.</summary>
    public void EnsureAnAdmin()
    {
        var users = _engine.ScanPrefix(_engine.Users, Keys.UserByNamePrefix).Select(kv => UserRecord.Parser.ParseFrom(kv.Value)).ToList();
        if (users.Count == 0 || users.Any(u => u.Admin))
        {
            return;
        }

        var first = users.OrderBy(u => u.CreatedUnixMs).ThenBy(u => u.Name, StringComparer.Ordinal).First().Clone();
        first.Admin = true;
        _transactions.WriteNow<object?>(batch =>
        {
            batch.PutUser(first);
            return null;
        });
    }

    private static string NewToken() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] HashToken(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private UserRecord ReadUser(string name) =>
        _engine.Get(Keys.UserByName(name), _engine.Users) is { } bytes
            ? UserRecord.Parser.ParseFrom(bytes)
            : throw new DropboxException(ErrorKind.NotFound, $"No user '{name}' ('user list' shows the users).");

    private UserDetails Details(UserRecord user)
    {
        var ns = _namespaces.TryGetValue(user.NamespaceId, out var state) ? state.Record : null;
        return new UserDetails(user.Name, user.NamespaceId, user.Admin, ns?.QuotaBytes ?? 0, ns?.TotalBytes ?? 0, ns?.FileCount ?? 0);
    }

    private void ForgetCachedTokens(string name)
    {
        foreach (var (token, user) in _tokenCache)
        {
            if (string.Equals(user.Name, name, StringComparison.Ordinal))
            {
                _tokenCache.TryRemove(token, out _);
            }
        }
    }
}
