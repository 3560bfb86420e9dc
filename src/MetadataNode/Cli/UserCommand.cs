using System.Globalization;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Admin;
using Dropbox.Shared.Tls;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dropbox.MetadataNode.Cli;

/// <summary>
/// The <c>user</c> verbs: <c>add NAME [--admin] [--quota BYTES]</c>, <c>list</c>, <c>remove NAME</c>, <c>rotate NAME</c>,
/// <c>quota NAME BYTES</c> (0 = none). Each runs against a running node with <c>--server URL --token ADMIN_TOKEN</c>
/// (plus <c>--ca FILE</c> or <c>--fingerprint SHA256:…</c> for a TLS node not trusted by the system), through the admin
/// API; or with <c>--data DIR</c> on the store of a stopped node.
/// </summary>
internal static class UserCommand
{
    /// <summary>Runs <c>user VERB ...</c> (args[0] is "user"); returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, Func<string[], string[], Dictionary<string, string>> parseFlags)
    {
        var verb = args[1];
        var positional = args.Skip(2).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        var map = parseFlags(args[(2 + positional.Length)..], ["--admin"]);
        var wanted = verb switch
        {
            "add" or "remove" or "rotate" => 1,
            "quota" => 2,
            "list" => 0,
            _ => throw new DropboxException(ErrorKind.InvalidArgument, $"Unknown verb 'user {verb}': use add, list, remove, rotate, quota or token."),
        };
        if (positional.Length != wanted)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, verb switch
            {
                "quota" => "usage: user quota NAME BYTES (0 removes the quota) --server URL --token ADMIN_TOKEN | --data DIR",
                "list" => "usage: user list --server URL --token ADMIN_TOKEN | --data DIR",
                _ => $"usage: user {verb} NAME --server URL --token ADMIN_TOKEN | --data DIR",
            });
        }

        var quota = verb == "quota" ? Bytes(positional[1], "BYTES")
            : map.TryGetValue("--quota", out var q) ? Bytes(q, "--quota") : 0UL;
        var admin = map.ContainsKey("--admin");

        if (map.TryGetValue("--server", out var server))
        {
            var token = map.TryGetValue("--token", out var t) && t.Length > 0
                ? t
                : throw new DropboxException(ErrorKind.InvalidArgument, "--server needs --token ADMIN_TOKEN (an admin user's token; the first user of a server is an admin).");
            return await RunOnlineAsync(verb, positional, admin, quota, server, token, Trust(map)).ConfigureAwait(false);
        }

        if (!map.TryGetValue("--data", out var data) || data.Length == 0)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"'user {verb}' needs --server URL --token ADMIN_TOKEN (a running node) or --data DIR (the store of a stopped node).");
        }

        using var store = MetadataNodeCommandLine.OpenOffline(data);
        switch (verb)
        {
            case "add":
                var (user, newToken) = store.AddUser(positional[0], admin, quota);
                PrintAdded(user.Name, user.Namespace.Value, newToken);
                break;
            case "list":
                foreach (var u in store.ListUserDetails())
                {
                    PrintUser(u.Name, u.NamespaceId, u.Admin, u.QuotaBytes, u.UsedBytes);
                }

                break;
            case "remove":
                store.RemoveUser(positional[0]);
                Console.WriteLine($"removed: {positional[0]}");
                break;
            case "rotate":
                Console.WriteLine($"token: {store.RotateToken(positional[0])}");
                break;
            case "quota":
                var details = await store.SetQuotaAsync(positional[0], quota).ConfigureAwait(false);
                Console.WriteLine($"quota: {details.Name} {QuotaText(details.QuotaBytes)}");
                break;
        }

        return 0;
    }

    private static async Task<int> RunOnlineAsync(string verb, string[] positional, bool admin, ulong quota, string server, string token, ServerTrust trust)
    {
        using var channel = GrpcChannel.ForAddress(server, new GrpcChannelOptions { HttpHandler = trust.CreateHandler() });
        var client = new Admin.AdminClient(channel);
        var headers = new Metadata { { "authorization", "Bearer " + token } };
        try
        {
            switch (verb)
            {
                case "add":
                    var added = await client.AddUserAsync(new AddUserRequest { Name = positional[0], Admin = admin, QuotaBytes = quota }, headers).ResponseAsync.ConfigureAwait(false);
                    PrintAdded(added.User.Name, added.User.NamespaceId, added.Token);
                    break;
                case "list":
                    foreach (var u in (await client.ListUsersAsync(new ListUsersRequest(), headers).ResponseAsync.ConfigureAwait(false)).Users)
                    {
                        PrintUser(u.Name, u.NamespaceId, u.Admin, u.QuotaBytes, u.UsedBytes);
                    }

                    break;
                case "remove":
                    await client.RemoveUserAsync(new RemoveUserRequest { Name = positional[0] }, headers).ResponseAsync.ConfigureAwait(false);
                    Console.WriteLine($"removed: {positional[0]}");
                    break;
                case "rotate":
                    var rotated = await client.RotateTokenAsync(new RotateTokenRequest { Name = positional[0] }, headers).ResponseAsync.ConfigureAwait(false);
                    Console.WriteLine($"token: {rotated.Token}");
                    break;
                case "quota":
                    var set = await client.SetQuotaAsync(new SetQuotaRequest { Name = positional[0], QuotaBytes = quota }, headers).ResponseAsync.ConfigureAwait(false);
                    Console.WriteLine($"quota: {set.User.Name} {QuotaText(set.User.QuotaBytes)}");
                    break;
            }
        }
        catch (RpcException ex)
        {
            var kind = ex.StatusCode switch
            {
                StatusCode.InvalidArgument => ErrorKind.InvalidArgument,
                StatusCode.NotFound => ErrorKind.NotFound,
                StatusCode.AlreadyExists => ErrorKind.AlreadyExists,
                StatusCode.PermissionDenied => ErrorKind.PermissionDenied,
                StatusCode.Unauthenticated => ErrorKind.Unauthenticated,
                _ => ErrorKind.Unavailable,
            };
            throw new DropboxException(kind, $"{server}: {ex.StatusCode}: {ex.Status.Detail}", ex);
        }

        return 0;
    }

    internal static ServerTrust Trust(Dictionary<string, string> map) =>
        map.TryGetValue("--ca", out var ca) ? ServerTrust.ForCaFile(ca, "--ca")
        : map.TryGetValue("--fingerprint", out var fp) ? ServerTrust.ForFingerprint(fp)
        : ServerTrust.System;

    private static ulong Bytes(string value, string name) =>
        ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new DropboxException(ErrorKind.InvalidArgument, $"{name} is a number of bytes (0 = no quota); got '{value}'.");

    private static string QuotaText(ulong quota) => quota == 0 ? "none" : quota.ToString(CultureInfo.InvariantCulture) + " bytes";

    private static void PrintAdded(string name, string ns, string token)
    {
        Console.WriteLine($"user: {name}");
        Console.WriteLine($"namespace: {ns}");
        Console.WriteLine($"token: {token}");
    }

    private static void PrintUser(string name, string ns, bool admin, ulong quota, ulong used) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}\t{ns}\t{(admin ? "admin" : "user")}\tquota={QuotaText(quota)}\tused={used}"));
}
