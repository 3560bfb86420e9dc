using Dropbox.Hosting;
using Dropbox.MetadataNode.Cluster;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Cli;

/// <summary>
/// The metadata node's command line:
/// <c>--data DIR --urls URL --keys DIR [--replication N] [--keep-versions N] [--keep-days D] [--gc-grace-minutes M] [--no-fsync]</c> runs the server;
/// <c>user add|list|remove|rotate|quota ...</c> manage users online (<c>--server URL --token ADMIN_TOKEN</c>) or offline
/// (<c>--data DIR</c>), see <see cref="UserCommand"/>; <c>user token owner --data DIR</c> shows the standalone appliance's
/// first token (kept in <c>DIR/owner.token</c>, never printed again by <c>standalone</c>); <c>check --data DIR</c> verifies the store's invariants.
/// </summary>
public static class MetadataNodeCommandLine
{
    private const string Usage = """
        usage:
          Dropbox.MetadataNode --data DIR --urls URL --keys DIR [--replication N] [--node-dead-after S] [--keep-versions N]
                               [--keep-days D] [--gc-grace-minutes M] [--gc-interval-seconds S] [--purge-interval-seconds S] [--no-fsync]
                               [--backup-dir DIR] [--backup-node-timeout S] [--backup-hold-timeout S]
                               [--tls-cert FILE --tls-key FILE] [--tls-ca FILE] [--insecure-http]
                               [--http-url URL] [--metrics-url URL] [--log-format text|json] [--log-level LEVEL]
                               https URLs need --tls-cert/--tls-key (PEM); http beyond loopback needs
                               --insecure-http; --tls-ca: the CA of the storage nodes' certificates;
                               --backup-node-timeout: a storage node's snapshot not done in S seconds fails (the
                               backup is incomplete; default 21600 = 6 h: a node whose --backup-dir is on another file
                               system copies every byte; 0: no bound); --backup-hold-timeout: how long a node waits for
                               compaction or scrub to let go of its segments before its snapshot fails (default 120)
                               --node-dead-after: a storage node silent S seconds (default 35, at least 5) is dead: its
                               chunks are copied from the other replicas until each has N again
                               /healthz, /readyz answer HTTP/1.1 on https URLs (ALPN) and on --http-url (an
                               HTTP/1.1-only listener: plaintext URLs speak only HTTP/2); /metrics only on
                               --metrics-url (HTTP/1.1; default a free port on 127.0.0.1): operators only
          (the standalone appliance, metadata + storage nodes, is its own program:
           dotnet run --project src/Appliance -- standalone --data DIR --port PORT; see its --help)
          Dropbox.MetadataNode tls init --dir DIR --hosts H1,H2,...
                               makes (or reuses) a CA and one server certificate for the hosts (plus localhost,
                               127.0.0.1, ::1) in DIR: ca.crt, server.crt, server.key for --tls-*; prints ca: and fingerprint:
          Dropbox.MetadataNode user add NAME [--admin] [--quota BYTES] TARGET   creates a user, prints its token once
          Dropbox.MetadataNode user list TARGET                                 name, namespace, role, quota, used bytes
          Dropbox.MetadataNode user remove NAME TARGET                          revokes the token; the account's data is purged
                               in the background (chunks no one else uses: after the GC grace)
          Dropbox.MetadataNode user rotate NAME TARGET                          a new token; the old one stops working
          Dropbox.MetadataNode user quota NAME BYTES TARGET                     most bytes of live files (0 = none)
                               TARGET: --server URL --token ADMIN_TOKEN [--ca FILE | --fingerprint SHA256:...]
                               (a running node, through the admin API; the first user is an admin)
                               or --data DIR (the store of a stopped node)
          Dropbox.MetadataNode nodes list TARGET            storage nodes: state (live, dead, draining, drained),
                               used and free bytes, chunks, under-replicated chunks
          Dropbox.MetadataNode nodes drain NODE [--cancel] TARGET  copies the node's chunks to others (new chunks skip
                               it); 'drained' in nodes list: it holds nothing needed and may be removed
          Dropbox.MetadataNode nodes forget NODE [--force] [--live] TARGET|--data DIR  forgets a node that will never return:
                               drops it and its chunk locations (GC stops calling it); refused while it holds the only
                               copy of a referenced chunk unless --force, which lists what became unreadable; the id
                               cannot register again (wipe the node and give it a new --node-id); refused while
                               the node still heartbeats and is not draining unless --live; offline (--data DIR)
                               a node counts as live if its last heartbeat is within --node-dead-after S (default 35)
                               of the newest one recorded (when the metadata node stopped), as printed first
                               TARGET here: --server URL --token ADMIN_TOKEN [--ca FILE | --fingerprint SHA256:...]
          Dropbox.MetadataNode user token owner --data DIR  shows the token standalone created in DIR
          Dropbox.MetadataNode check --data DIR             checks a stopped node's store; exit 1 on any problem
          Dropbox.MetadataNode check TARGET [--verify-chunks]  the same check on a running node (on a RocksDB
                               checkpoint: writers go on); --verify-chunks: also asks the live storage nodes that every
                               referenced chunk is held by at least one of them
          Dropbox.MetadataNode backup TARGET [--keep N]     an online, consistent backup: the metadata checkpoint and
                               the key ring under the node's --backup-dir (default DATA/backups), each live storage
                               node's segments under its own --backup-dir, all in a folder named by the UTC start;
                               prints the paths; exit 1 if a storage node's snapshot failed; --keep N: then keep
                               the newest N complete backups and remove older ones and every incomplete one (their
                               metadata folders and storage parts; never the one just made); prints removed: NAME
                               TARGET here: --server URL --token ADMIN_TOKEN [--ca FILE | --fingerprint SHA256:...]
        """;

    /// <summary>Runs the command; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            if (args.Length >= 1 && args[0] is "-h" or "--help" or "help")
            {
                Console.WriteLine(Usage);
                return 0;
            }

            if (args.Length >= 2 && args[0] == "user")
            {
                return args[1] == "token" ? ShowOwnerToken(args) : await UserCommand.RunAsync(args, ParseFlags).ConfigureAwait(false);
            }

            if (args.Length >= 2 && args[0] == "nodes")
            {
                return await NodesCommand.RunAsync(args, ParseFlags).ConfigureAwait(false);
            }

            if (args.Length >= 1 && args[0] == "standalone")
            {
                throw new DropboxException(ErrorKind.InvalidArgument, "'standalone' is its own program now (it runs a storage node too): dotnet run --project src/Appliance -- standalone [--data DIR] [--port PORT], or dotnet Dropbox.Appliance.dll standalone ...");
            }

            if (args.Length >= 2 && args[0] == "tls" && args[1] == "init")
            {
                return RunTlsInit(args);
            }

            if (args.Length >= 1 && args[0] == "check")
            {
                var checkFlags = ParseFlags(args[1..], ["--verify-chunks"]);
                return checkFlags.ContainsKey("--data") ? RunCheck(checkFlags) : await OnlineAdminCommand.CheckAsync(checkFlags).ConfigureAwait(false);
            }

            if (args.Length >= 1 && args[0] == "backup")
            {
                return await OnlineAdminCommand.BackupAsync(ParseFlags(args[1..], [])).ConfigureAwait(false);
            }

            return await RunServerAsync(args).ConfigureAwait(false);
        }
        catch (DropboxException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return ex.Kind == ErrorKind.InvalidArgument ? 2 : 1;
        }
    }

    private static async Task<int> RunServerAsync(string[] args)
    {
        var options = ParseServerOptions(args);
        var logging = ParseLogging(ParseFlags(args, ["--no-fsync", "--insecure-http"]));
        await using var app = MetadataNodeHost.Build(options, logging.Apply);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            foreach (var url in MetadataNodeHost.BoundUrls(app))
            {
                Console.WriteLine($"listening: {url}");
            }

            Console.WriteLine($"metrics: {MetadataNodeHost.MetricsUrl(app)}{NodeObservability.MetricsPath}");
        });
        await app.RunAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>Parses the server's options from the command line.</summary>
    public static MetadataNodeOptions ParseServerOptions(string[] args)
    {
        var map = ParseFlags(args, ["--no-fsync", "--insecure-http"]);
        RefuseUnknown(map);
        var options = new MetadataNodeOptions
        {
            DataDirectory = Require(map, "--data"),
            KeysDirectory = Require(map, "--keys"),
            Urls = map.TryGetValue("--urls", out var urls) ? urls.Split(';', StringSplitOptions.RemoveEmptyEntries) : ["http://127.0.0.1:5080"],
            HttpUrl = map.GetValueOrDefault("--http-url"),
            BackupDirectory = map.GetValueOrDefault("--backup-dir"),
            SyncWrites = !map.ContainsKey("--no-fsync"),
            InsecureHttp = map.ContainsKey("--insecure-http"),
            TlsCertificate = TlsOptions(map),
            NodeTrust = map.TryGetValue("--tls-ca", out var ca) ? ServerTrust.ForCaFile(ca, "--tls-ca") : ServerTrust.System,
        };
        if (map.TryGetValue("--metrics-url", out var metricsUrl))
        {
            options = options with { MetricsUrl = metricsUrl };
        }

        if (map.TryGetValue("--replication", out var r))
        {
            options = options with { ReplicationFactor = PositiveInt(r, "--replication") };
        }

        if (map.TryGetValue("--node-dead-after", out var dead))
        {
            options = options.WithNodeDeadAfter(TimeSpan.FromSeconds(PositiveInt(dead, "--node-dead-after")));
        }

        if (map.TryGetValue("--backup-node-timeout", out var bnt))
        {
            var seconds = NonNegativeInt(bnt, "--backup-node-timeout");
            options = options with { BackupNodeTimeout = seconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(seconds) };
        }

        if (map.TryGetValue("--backup-hold-timeout", out var bht))
        {
            var seconds = PositiveInt(bht, "--backup-hold-timeout");
            if (seconds > Shared.IO.BackupName.MaxHoldWaitSeconds)
            {
                // The storage nodes refuse a longer wait: every backup would end incomplete.
                throw new DropboxException(ErrorKind.InvalidArgument, $"--backup-hold-timeout must be at most {Shared.IO.BackupName.MaxHoldWaitSeconds} seconds (a day); got {seconds}.");
            }

            options = options with { BackupHoldTimeout = TimeSpan.FromSeconds(seconds) };
        }

        if (map.TryGetValue("--keep-versions", out var kv))
        {
            options = options with { KeepVersions = PositiveInt(kv, "--keep-versions") };
        }

        if (map.TryGetValue("--keep-days", out var kd))
        {
            options = options with { KeepAge = TimeSpan.FromDays(PositiveInt(kd, "--keep-days")) };
        }

        if (map.TryGetValue("--gc-grace-minutes", out var gg))
        {
            options = options with { GcGracePeriod = TimeSpan.FromMinutes(PositiveInt(gg, "--gc-grace-minutes")) };
        }

        if (map.TryGetValue("--gc-interval-seconds", out var gi))
        {
            options = options with { GcInterval = TimeSpan.FromSeconds(int.Parse(gi, System.Globalization.CultureInfo.InvariantCulture)) };
        }

        if (map.TryGetValue("--purge-interval-seconds", out var pi))
        {
            options = options with { PurgeInterval = TimeSpan.FromSeconds(int.Parse(pi, System.Globalization.CultureInfo.InvariantCulture)) };
        }

        return options;
    }

    /// <summary>Every option the server reads: anything else is a typo (say <c>--replicas</c> for <c>--replication</c>) that would otherwise run with a default.</summary>
    private static readonly HashSet<string> ServerOptions = new(StringComparer.Ordinal)
    {
        "--data", "--keys", "--urls", "--http-url", "--backup-dir", "--no-fsync", "--insecure-http", "--tls-cert", "--tls-key",
        "--tls-ca", "--metrics-url", "--replication", "--node-dead-after", "--backup-node-timeout", "--backup-hold-timeout",
        "--keep-versions", "--keep-days", "--gc-grace-minutes", "--gc-interval-seconds", "--purge-interval-seconds",
        "--log-format", "--log-level",
    };

    private static void RefuseUnknown(Dictionary<string, string> map)
    {
        var unknown = map.Keys.Where(k => !ServerOptions.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Unknown option{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown)}: nothing was started.\n{Usage}");
        }
    }

    /// <summary><c>--log-format text|json</c> and <c>--log-level LEVEL</c> (default information).</summary>
    internal static NodeLogging ParseLogging(Dictionary<string, string> map) => new()
    {
        Format = map.TryGetValue("--log-format", out var format) ? NodeLogging.ParseFormat(format) : LogFormat.Text,
        MinimumLevel = map.TryGetValue("--log-level", out var level) ? NodeLogging.ParseLevel(level) : LogLevel.Information,
    };

    /// <summary>The certificate of <c>--tls-cert FILE --tls-key FILE</c> (both or neither), or null.</summary>
    private static System.Security.Cryptography.X509Certificates.X509Certificate2? TlsOptions(Dictionary<string, string> map)
    {
        var hasCert = map.TryGetValue("--tls-cert", out var cert);
        var hasKey = map.TryGetValue("--tls-key", out var key);
        if (hasCert != hasKey)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, "--tls-cert and --tls-key go together: give both (PEM certificate and PEM private key) or neither.");
        }

        return hasCert ? ServerCertificate.Load(cert!, key!) : null;
    }

    /// <summary>
    /// <c>user token owner --data DIR</c>: the admin's explicit way to see the first user's token after standalone
    /// printed it once. Only that user's token is kept (0600, in the owner-only data folder); others exist only
    /// as hashes.
    /// </summary>
    private static int ShowOwnerToken(string[] args)
    {
        if (args.Length < 3 || args[2] != OwnerToken.User)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"'user token' shows only the standalone appliance's first user's token: 'user token {OwnerToken.User} --data DIR'. Other users' tokens are stored hashed and cannot be shown.");
        }

        var data = Require(ParseFlags(args[3..], []), "--data");
        var file = Path.Combine(Path.GetFullPath(data), OwnerToken.FileName);
        if (!File.Exists(file))
        {
            throw new DropboxException(ErrorKind.NotFound, $"No '{OwnerToken.FileName}' in '{data}': pass the folder given to 'standalone --data'.");
        }

        Console.WriteLine($"token: {File.ReadAllText(file).Trim()}");
        return 0;
    }

    private static int RunTlsInit(string[] args)
    {
        var map = ParseFlags(args[2..], []);
        var hosts = Require(map, "--hosts").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var tls = LocalCertificateAuthority.Ensure(Require(map, "--dir"), ["localhost", "127.0.0.1", "::1", .. hosts]);
        tls.ServerCertificate.Dispose();
        Console.WriteLine($"ca: {tls.CaCertificatePath}");
        Console.WriteLine($"fingerprint: {tls.ServerFingerprint}");
        return 0;
    }

    private static int RunCheck(Dictionary<string, string> map)
    {
        using var store = OpenOffline(Require(map, "--data"));
        var (problems, notes) = store.CheckConsistencyWithNotes();
        foreach (var p in problems)
        {
            Console.WriteLine(p);
        }

        foreach (var note in notes)
        {
            Console.WriteLine($"note: {note}");
        }

        Console.WriteLine(problems.Count == 0 ? "consistent" : $"{problems.Count} problem(s)");
        return problems.Count == 0 ? 0 : 1;
    }

    /// <summary>Opens a stopped node's store for the offline admin verbs; says on <paramref name="notices"/> (default: standard error) what opening it upgraded.</summary>
    internal static MetadataStore OpenOffline(string data, TextWriter? notices = null, Func<MetadataNodeOptions, MetadataNodeOptions>? configure = null)
    {
        // Admin verbs never call storage nodes; a throwaway key ring is enough for the unused token service.
        var keys = Path.Combine(Path.GetTempPath(), "dropbox-metadata-admin-keys");
        var tokens = ChunkTokenService.ForKeyDirectory(keys);
        var options = new MetadataNodeOptions { DataDirectory = data, KeysDirectory = keys, SyncWrites = false };
        options = configure?.Invoke(options) ?? options;
        var store = MetadataStore.Open(options, tokens, new GrpcStorageNodeGateway(tokens));
        if (store.SchemaUpgrade is not null)
        {
            (notices ?? Console.Error).WriteLine(store.SchemaUpgrade);
        }

        return store;
    }

    internal static Dictionary<string, string> ParseFlags(string[] args, string[] switches) => CommandLineFlags.Parse(args, switches, Usage);

    private static string Require(Dictionary<string, string> map, string name) =>
        map.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new DropboxException(ErrorKind.InvalidArgument, $"Missing {name}.\n{Usage}");

    private static int PositiveInt(string value, string name) => CommandLineFlags.PositiveInt(value, name);

    private static int NonNegativeInt(string value, string name) =>
        int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 0
            ? n
            : throw new DropboxException(ErrorKind.InvalidArgument, $"{name} must be a whole number of seconds, 0 for no bound; got '{value}'.");
}
