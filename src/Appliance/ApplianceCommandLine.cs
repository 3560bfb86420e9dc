using System.Globalization;
using Dropbox.Hosting;
using Dropbox.Shared.Errors;

namespace Dropbox.Appliance;

/// <summary>
/// The appliance's command line: <c>standalone [--data DIR] [--port PORT] [--bind ADDRESS] [--tls] [--insecure-http]
/// [--metrics-bind ADDRESS] [--direct-io on|off] [--log-format text|json] [--log-level LEVEL]</c> (the verb may be left out), see <see cref="StandaloneCommand"/>.
/// </summary>
public static class ApplianceCommandLine
{
    private const string Usage = """
        usage:
          Dropbox.Appliance [standalone] [--data DIR] [--port PORT] [--bind ADDRESS] [--tls] [--insecure-http]
                            [--metrics-bind ADDRESS] [--storage-nodes N] [--replicas R] [--node-dead-after S]
                            [--direct-io on|off] [--log-format text|json] [--log-level LEVEL]
                            metadata + storage node on ADDRESS:PORT (default ./data, 127.0.0.1, 5080);
                            storage gRPC on PORT+1, presigned links on PORT+2, metadata HTTP/1.1
                            (/healthz, /readyz) on PORT+3; /metrics on METRICS-ADDRESS (default
                            127.0.0.1) PORT+4 (metadata) and PORT+5 (storage); requests logged at information;
                            --tls (on by itself beyond loopback): own CA and certificate in DATA/tls;
                            --storage-nodes N > 1: N storage node processes (DATA/storage, DATA/storage-2..;
                            node i on PORT+3+3i gRPC, PORT+4+3i links, PORT+5+3i metrics), each chunk on R
                            of them; a node silent S seconds (at least 5) is dead and its chunks are copied until each has R;
                            --direct-io off: every storage node reads and writes its segments through the page cache
                            (default on: O_DIRECT where the file system allows it)
          the owner's token later: Dropbox.MetadataNode user token owner --data DIR
        """;

    private static readonly string[] Switches = ["--tls", "--insecure-http"];

    /// <summary>Runs the appliance; returns the process exit code (2 for a bad command line).</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        try
        {
            if (args.Length >= 1 && args[0] is "-h" or "--help" or "help")
            {
                Console.WriteLine(Usage);
                return 0;
            }

            var flags = ParseFlags(args.Length >= 1 && args[0] == "standalone" ? args[1..] : args);
            var data = flags.TryGetValue("--data", out var d) ? d : "./data";
            var port = flags.TryGetValue("--port", out var p)
                ? (int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new DropboxException(ErrorKind.InvalidArgument, $"--port takes a number; got '{p}'."))
                : 5080;
            var bind = flags.TryGetValue("--bind", out var b) ? b : "127.0.0.1";
            var metricsBind = flags.TryGetValue("--metrics-bind", out var mb) ? mb : "127.0.0.1";
            var logging = new NodeLogging
            {
                Format = flags.TryGetValue("--log-format", out var format) ? NodeLogging.ParseFormat(format) : LogFormat.Text,
                MinimumLevel = flags.TryGetValue("--log-level", out var level) ? NodeLogging.ParseLevel(level) : Microsoft.Extensions.Logging.LogLevel.Information,
            };
            var topology = new StandaloneCluster.Topology(
                flags.TryGetValue("--storage-nodes", out var sn) ? PositiveInt(sn, "--storage-nodes") : 1,
                flags.TryGetValue("--replicas", out var rp) ? PositiveInt(rp, "--replicas") : 1,
                flags.TryGetValue("--node-dead-after", out var da) ? PositiveInt(da, "--node-dead-after") : null);
            var directIo = !flags.TryGetValue(StorageNode.DirectIoSwitch.Flag, out var dio) || StorageNode.DirectIoSwitch.Parse(dio);
            return await StandaloneCommand.RunAsync(data, port, bind, flags.ContainsKey("--tls"), flags.ContainsKey("--insecure-http"), logging, metricsBind, topology, directIo).ConfigureAwait(false);
        }
        catch (DropboxException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return ex.Kind == ErrorKind.InvalidArgument ? 2 : 1;
        }
    }

    private static Dictionary<string, string> ParseFlags(string[] args) => CommandLineFlags.Parse(args, Switches, Usage);

    private static int PositiveInt(string value, string name) => CommandLineFlags.PositiveInt(value, name);
}
