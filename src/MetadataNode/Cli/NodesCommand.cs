using System.Globalization;
using Dropbox.Hosting;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Admin;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dropbox.MetadataNode.Cli;

/// <summary>
/// The <c>nodes</c> verbs, against a running metadata node (<c>--server URL --token ADMIN_TOKEN</c>, plus <c>--ca FILE</c>
/// or <c>--fingerprint SHA256:…</c> for TLS): <c>nodes list</c> prints one line per storage node (id, state, used and
/// free bytes, chunks, under-replicated chunks, URL) and a total; <c>nodes drain NODE [--cancel]</c> moves a node's
/// chunks away (or takes it back); <c>nodes forget NODE [--force] [--live]</c> forgets a node that will never return (also offline,
/// with <c>--data DIR</c> on a stopped node's store).
/// </summary>
internal static class NodesCommand
{
    private const string Usage = "usage: nodes list --server URL --token ADMIN_TOKEN | nodes drain NODE [--cancel] --server URL --token ADMIN_TOKEN | nodes forget NODE [--force] [--live] (--server URL --token ADMIN_TOKEN | --data DIR [--node-dead-after S])";

    /// <summary>Runs <c>nodes VERB ...</c> (args[0] is "nodes"); returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, Func<string[], string[], Dictionary<string, string>> parseFlags)
    {
        var verb = args[1];
        var positional = args.Skip(2).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        var map = parseFlags(args[(2 + positional.Length)..], ["--cancel", "--force", "--live"]);
        if ((verb, positional.Length) is not (("list", 0) or ("drain", 1) or ("forget", 1)))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, Usage);
        }

        if (verb == "forget" && !map.ContainsKey("--server") && map.TryGetValue("--data", out var data) && data.Length > 0)
        {
            TimeSpan? given = map.TryGetValue("--node-dead-after", out var seconds) ? TimeSpan.FromSeconds(CommandLineFlags.PositiveInt(seconds, "--node-dead-after")) : null;
            var deadAfter = TimeSpan.Zero;
            using var store = MetadataNodeCommandLine.OpenOffline(data, configure: o =>
            {
                o = given is { } d ? o.WithNodeDeadAfter(d) : o;
                deadAfter = o.NodeTimeout;
                return o;
            });
            // Stated here, not left to a print helper: offline, the wall clock is long past every heartbeat, so every
            // node would read dead (no --live needed, no copy counted).
            var asOf = store.Nodes.JudgeLivenessAsOfNewestHeartbeat();
            PrintOfflineLiveness(store, asOf, deadAfter, given is not null);
            PrintForgotten(AdminMapping.ToProto(store.ForgetNode(positional[0], map.ContainsKey("--force"), map.ContainsKey("--live"))), positional[0]);
            return 0;
        }

        if (!map.TryGetValue("--server", out var server) || !map.TryGetValue("--token", out var token) || token.Length == 0)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"'nodes {verb}' talks to a running metadata node: give --server URL --token ADMIN_TOKEN{(verb == "forget" ? " (or --data DIR for a stopped node's store)" : string.Empty)}.\n{Usage}");
        }

        using var channel = GrpcChannel.ForAddress(server, new GrpcChannelOptions { HttpHandler = UserCommand.Trust(map).CreateHandler() });
        var client = new Admin.AdminClient(channel);
        var headers = new Metadata { { "authorization", "Bearer " + token } };
        try
        {
            if (verb == "list")
            {
                var list = await client.ListNodesAsync(new ListNodesRequest(), headers).ResponseAsync.ConfigureAwait(false);
                Console.WriteLine("node\tstate\tused_bytes\tfree_bytes\tchunks\tunder_replicated\turl\treason");
                foreach (var n in list.Nodes)
                {
                    Print(n);
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"under-replicated: {list.UnderReplicated} (replication factor {list.ReplicationFactor})"));
            }
            else if (verb == "forget")
            {
                var forgotten = await client.ForgetNodeAsync(new ForgetNodeRequest { NodeId = positional[0], Force = map.ContainsKey("--force"), Live = map.ContainsKey("--live") }, headers).ResponseAsync.ConfigureAwait(false);
                PrintForgotten(forgotten, positional[0]);
            }
            else
            {
                var drained = await client.DrainNodeAsync(new DrainNodeRequest { NodeId = positional[0], Cancel = map.ContainsKey("--cancel") }, headers).ResponseAsync.ConfigureAwait(false);
                Console.WriteLine("node\tstate\tused_bytes\tfree_bytes\tchunks\tunder_replicated\turl\treason");
                Print(drained.Node);
            }
        }
        catch (RpcException ex)
        {
            throw new DropboxException(GrpcErrorMapping.FromStatusCode(ex.StatusCode), $"{server}: {ex.StatusCode}: {ex.Status.Detail}", ex);
        }

        return 0;
    }

    /// <summary>
    /// A stopped metadata node gets no heartbeats, so liveness is judged as of the newest one its store recorded (about
    /// when it stopped), with --node-dead-after; says so, and which nodes that makes live and dead.
    /// </summary>
    private static void PrintOfflineLiveness(Domain.MetadataStore store, DateTimeOffset? judgedAsOf, TimeSpan deadAfter, bool given)
    {
        if (judgedAsOf is not { } asOf)
        {
            return;
        }

        var nodes = store.Nodes.All().OrderBy(n => n.NodeId, StringComparer.Ordinal).ToList();
        var live = nodes.Where(store.Nodes.IsLive).Select(n => n.NodeId).ToList();
        var dead = nodes.Where(n => !store.Nodes.IsLive(n)).Select(n => n.NodeId).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"offline: liveness as of the newest heartbeat recorded ({asOf:u}, about when the metadata node stopped) with --node-dead-after {deadAfter.TotalSeconds:0} s{(given ? "" : " (the offline default, not the value the metadata node ran with: pass that one)")}: live {(live.Count > 0 ? string.Join(", ", live) : "none")}; dead {(dead.Count > 0 ? string.Join(", ", dead) : "none")}"));
    }

    private static void PrintForgotten(ForgetNodeResponse forgotten, string nodeId)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"forgotten: {nodeId} ({forgotten.LocationsCleared} chunk location(s) dropped)"));
        if (forgotten.ChunksLost == 0)
        {
            return;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"unreadable: {forgotten.ChunksLost} chunk(s) had no other copy"));
        foreach (var id in forgotten.LostChunkIds)
        {
            Console.WriteLine($"lost-chunk\t{id}");
        }

        foreach (var file in forgotten.LostFiles)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lost-file\t{file.User}\t{file.Path}\tversion {file.Version}"));
        }

        if (forgotten.Truncated)
        {
            Console.WriteLine("(more were lost than are listed)");
        }
    }

    private static void Print(NodeSummary n) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n.NodeId}\t{n.State}\t{n.UsedBytes}\t{n.FreeBytes}\t{n.Chunks}\t{n.UnderReplicated}\t{n.GrpcUrl}\t{n.Reason}"));
}
