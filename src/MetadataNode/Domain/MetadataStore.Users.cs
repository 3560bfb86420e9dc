using System.Security.Cryptography;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Errors;
using Google.Protobuf;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class MetadataStore
{
    /// <summary>A user as the admin API shows it.</summary>
    internal sealed record UserDetails(string Name, string NamespaceId, bool Admin, ulong QuotaBytes, ulong UsedBytes, ulong FileCount);

    private static string NewToken() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Every user with role, quota and usage, by name.</summary>
    public IReadOnlyList<UserDetails> ListUserDetails() =>
        _engine.ScanPrefix(_engine.Users, Keys.UserByNamePrefix)
            .Select(kv => Details(UserRecord.Parser.ParseFrom(kv.Value)))
            .ToList();

    /// <summary>One user with role, quota and usage; NotFound if there is no such user.</summary>
    public UserDetails GetUserDetails(string name) => Details(ReadUser(name));

    /// <summary>Revokes a user's token at once; the account's files stay stored. NotFound if there is no such user.</summary>
    public void RemoveUser(string name)
    {
        lock (_writeLock)
        {
            var record = ReadUser(name);
            using var batch = new RecordBatch(_engine);
            batch.DeleteUser(record);
            batch.Commit();
            _engine.SyncWal();
            ForgetCachedTokens(name);
        }
    }

    /// <summary>Gives a user a new token and revokes the old one at once; returns the new token (shown once).</summary>
    public string RotateToken(string name)
    {
        var token = NewToken();
        lock (_writeLock)
        {
            var record = ReadUser(name);
            var updated = record.Clone();
            updated.TokenHash = ByteString.CopyFrom(HashToken(token));
            using var batch = new RecordBatch(_engine);
            batch.DeleteUser(record);
            batch.PutUser(updated);
            batch.Commit();
            _engine.SyncWal();
            ForgetCachedTokens(name);
        }

        return token;
    }

    /// <summary>Sets the most bytes of live files the user's account may hold (0 = none); applies to the next upload.</summary>
    public async Task<UserDetails> SetQuotaAsync(string name, ulong quotaBytes)
    {
        var user = ReadUser(name);
        if (!_namespaces.TryGetValue(user.NamespaceId, out var ns))
        {
            throw new DropboxException(ErrorKind.NotFound, $"The namespace of user '{name}' is missing.");
        }

        await MutateDurableAsync<object?>(ns, (_, record) =>
        {
            record!.QuotaBytes = quotaBytes;
            return null;
        }).ConfigureAwait(false);
        return Details(user);
    }

    /// <summary>
    /// RESOURCE_EXHAUSTED if writing <paramref name="newSize"/> bytes at <paramref name="path"/> (replacing
    /// <paramref name="currentSize"/>) would take the account over its quota.
    /// </summary>
    private static void EnsureWithinQuota(NamespaceRecord record, string path, ulong newSize, ulong currentSize)
    {
        if (record.QuotaBytes == 0 || newSize <= currentSize)
        {
            return;
        }

        // Saturating: a size near 2^64 must not wrap around to a small total and pass.
        var kept = record.TotalBytes - Math.Min(record.TotalBytes, currentSize);
        var after = newSize > ulong.MaxValue - kept ? ulong.MaxValue : kept + newSize;
        if (after > record.QuotaBytes)
        {
            throw new DropboxException(ErrorKind.ResourceExhausted,
                $"Over quota: '{path}' ({newSize} bytes) would bring account '{record.Owner}' to {after} bytes, over its quota of {record.QuotaBytes} bytes ({record.TotalBytes} used). Delete files, or ask an admin to raise the quota ('user quota {record.Owner} BYTES').");
        }
    }

    /// <summary>Gives the oldest user of a store made before admins existed the admin role, so the store has one.</summary>
    private void EnsureAnAdmin()
    {
        var users = _engine.ScanPrefix(_engine.Users, Keys.UserByNamePrefix).Select(kv => UserRecord.Parser.ParseFrom(kv.Value)).ToList();
        if (users.Count == 0 || users.Any(u => u.Admin))
        {
            return;
        }

        var first = users.OrderBy(u => u.CreatedUnixMs).ThenBy(u => u.Name, StringComparer.Ordinal).First().Clone();
        first.Admin = true;
        using var batch = new RecordBatch(_engine);
        batch.PutUser(first);
        batch.Commit();
        _engine.SyncWal();
    }

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
