using System.Globalization;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Admin;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dropbox.MetadataNode.Cli;

/// <summary>
/// <c>check --server URL --token ADMIN_TOKEN [--verify-chunks]</c> and <c>backup --server URL --token ADMIN_TOKEN [--keep N]</c>
/// (plus <c>--ca FILE</c> or <c>--fingerprint SHA256:…</c> for TLS): the online check prints each problem and exits 1
/// if there is any; the online backup prints where each part went and exits 1 if a storage node's snapshot failed or a referenced chunk is on no snapshotted node.
/// </summary>
internal static class OnlineAdminCommand
{
    private const string Usage = "usage: check --server URL --token ADMIN_TOKEN [--verify-chunks] | backup --server URL --token ADMIN_TOKEN [--keep N]";

    /// <summary>Runs the online <c>check</c> (args[0]); returns the exit code.</summary>
    public static async Task<int> CheckAsync(Dictionary<string, string> map)
    {
        var response = await CallAsync(map, "check", (client, headers) =>
            client.CheckAsync(new CheckRequest { VerifyChunks = map.ContainsKey("--verify-chunks") }, headers).ResponseAsync).ConfigureAwait(false);
        foreach (var problem in response.Problems)
        {
            Console.WriteLine(problem);
        }

        foreach (var note in response.Notes)
        {
            Console.WriteLine($"note: {note}");
        }

        if (map.ContainsKey("--verify-chunks"))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"chunks confirmed on live storage nodes: {response.ChunksVerified}"));
        }

        Console.WriteLine(response.Problems.Count == 0 ? "consistent" : $"{response.Problems.Count} problem(s)");
        return response.Problems.Count == 0 ? 0 : 1;
    }

    /// <summary>Runs the online <c>backup</c>; returns the exit code.</summary>
    public static async Task<int> BackupAsync(Dictionary<string, string> map)
    {
        var keep = map.TryGetValue("--keep", out var k) ? Dropbox.Hosting.CommandLineFlags.PositiveInt(k, "--keep") : 0;
        var response = await CallAsync(map, "backup", (client, headers) => client.BackupAsync(new BackupRequest { Keep = (uint)keep }, headers).ResponseAsync).ConfigureAwait(false);
        Console.WriteLine($"backup: {response.Name}");
        Console.WriteLine($"metadata: {response.MetadataPath}");
        Console.WriteLine($"keys: {response.KeysPath}");
        foreach (var node in response.Nodes)
        {
            Console.WriteLine(node.Error.Length == 0
                ? string.Create(CultureInfo.InvariantCulture, $"storage {node.NodeId}: {node.Path} ({node.Segments} segments, {node.Linked} hard-linked, {node.Bytes} bytes)")
                : $"storage {node.NodeId}: FAILED: {node.Error}");
        }

        foreach (var skipped in response.SkippedNodes)
        {
            Console.WriteLine($"skipped {skipped}: not live (its chunks are in the backup only where another replica holds them)");
        }

        if (response.MissingChunks > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"missing: {response.MissingChunks} referenced chunk(s) are on no storage node whose snapshot is in this backup (skipped or failed nodes)"));
        }

        foreach (var removed in response.Removed)
        {
            Console.WriteLine($"removed: {removed} (retention: --keep {keep})");
        }

        Console.WriteLine(response.Complete ? "complete" : "incomplete: a storage node's snapshot failed or referenced chunks are missing; bring the nodes back and take the backup again");
        return response.Complete ? 0 : 1;
    }

    private static async Task<T> CallAsync<T>(Dictionary<string, string> map, string verb, Func<Admin.AdminClient, Metadata, Task<T>> call)
    {
        if (!map.TryGetValue("--server", out var server) || !map.TryGetValue("--token", out var token) || token.Length == 0)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"'{verb}' talks to a running metadata node: give --server URL --token ADMIN_TOKEN.\n{Usage}");
        }

        using var channel = GrpcChannel.ForAddress(server, new GrpcChannelOptions { HttpHandler = UserCommand.Trust(map).CreateHandler() });
        try
        {
            return await call(new Admin.AdminClient(channel), new Metadata { { "authorization", "Bearer " + token } }).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            throw new DropboxException(GrpcErrorMapping.FromStatusCode(ex.StatusCode), $"{server}: {ex.StatusCode}: {ex.Status.Detail}", ex);
        }
    }
}
