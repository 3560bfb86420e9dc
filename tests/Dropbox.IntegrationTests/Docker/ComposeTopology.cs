using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;
using Dropbox.IntegrationTests.Observability;
using Dropbox.Shared.Tls;

namespace Dropbox.IntegrationTests.Docker;

/// <summary>
/// docker/compose.yaml run as processes on 127.0.0.1, with the command lines it gives (no Docker engine runs here):
/// each service's <c>command:</c> (or its image's CMD) and <c>environment:</c> from the compose file, its image's
/// ENTRYPOINT from its Dockerfile, run through docker/entrypoint.sh with PUBLIC_HOST=127.0.0.1. What a container would
/// see differently is substituted, and only that: each named volume is a folder (its mount path in the arguments becomes
/// the folder), each container port a free port on 127.0.0.1 (in listen URLs, in URLs naming another service by its
/// host name, and in URLs naming PUBLIC_HOST with a published port), and the app folder (/app) is a built or published
/// node. Services start in depends_on order: a service_completed_successfully dependency must exit 0, a
/// service_healthy one must pass its Dockerfile's HEALTHCHECK command (run with curl, as Docker would).
/// </summary>
internal sealed partial class ComposeTopology : IClientTarget, IDisposable
{
    public const string PublicHost = "127.0.0.1";
    private const string ImageEntrypoint = "/app/entrypoint.sh";
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(90);

    private readonly Func<DockerfileText, string> _appFolder;
    private readonly Dictionary<string, ComposeService> _services;
    private readonly Dictionary<string, DockerfileText> _images = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Service, int Container), int> _ports = [];
    private readonly Dictionary<int, (string Service, int Container)> _published = [];
    private readonly Dictionary<string, string> _volumes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ChildProcess> _running = new(StringComparer.Ordinal);
    private readonly HashSet<string> _ready = new(StringComparer.Ordinal);

    private ComposeTopology(TempFolder dir, Func<DockerfileText, string> appFolder, string volumePrefix)
    {
        _appFolder = appFolder;
        _services = ComposeFile.Read(ComposeFile.DefaultPath, new Dictionary<string, string> { ["PUBLIC_HOST"] = PublicHost }).ToDictionary(s => s.Name, StringComparer.Ordinal);
        foreach (var service in _services.Values)
        {
            _images[service.Name] = DockerfileText.Read(Path.Combine(Binaries.RepositoryRoot, service.Dockerfile));
            foreach (var (published, container) in service.Ports)
            {
                var port = QuietPorts.Next();
                _ports[(service.Name, container)] = port;
                Assert.True(_published.TryAdd(published, (service.Name, container)), $"host port {published} is published twice in compose.yaml");
            }

            foreach (var (volume, _) in service.Volumes)
            {
                _volumes.TryAdd(volume, dir.CreateSub(volumePrefix + "volume-" + volume));
            }
        }
    }

    /// <summary>The compose file's services.</summary>
    public IReadOnlyCollection<ComposeService> Services => _services.Values;

    /// <summary>The metadata node as clients reach it: <c>https://PUBLIC_HOST:5080</c>, mapped.</summary>
    public string MetadataUrl { get; private set; } = string.Empty;

    /// <summary>The token of alice, added online by the admin as the compose file's header says.</summary>
    public string Token { get; private set; } = string.Empty;

    /// <summary>The CA the nodes trust (<c>--tls-ca</c> of the metadata service), which clients are handed.</summary>
    public string? CaFile { get; private set; }

    /// <summary>The metadata service's operator listener (container port 5083), mapped.</summary>
    public string MetadataMetricsUrl => $"https://127.0.0.1:{_ports[("metadata", 5083)]}/metrics";

    /// <summary>Each long-running service's process (the node itself: the entrypoint execs it).</summary>
    public IReadOnlyDictionary<string, ChildProcess> Running => _running;

    public string Logs => string.Join("\n----\n", _running.Select(r => $"[{r.Key}]\n" + Tail(r.Value.Stdout + r.Value.Stderr)));

    /// <summary>The services whose image is built from <paramref name="dockerfileName"/> (e.g. Dockerfile.storage).</summary>
    public IEnumerable<ComposeService> ServicesOf(string dockerfileName) =>
        _services.Values.Where(s => Path.GetFileName(s.Dockerfile) == dockerfileName);

    /// <summary>The host port standing for <paramref name="service"/>'s container port <paramref name="container"/>.</summary>
    public int PortOf(string service, int container) => _ports[(service, container)];

    /// <summary>
    /// Starts every service, with the nodes of each image taken from <paramref name="appFolder"/> (the folder that
    /// would be the image's /app), then makes the admin and alice as compose.yaml's header says.
    /// </summary>
    /// <remarks>
    /// Each container port stands for a port found free on 127.0.0.1 before the node binds it; another process on the
    /// machine can take it in between (a full CI run did: "Failed to bind to address https://127.0.0.1:42451: address
    /// already in use", storage2 exited 134). Such a start is stopped and made again on new ports and empty volumes, at
    /// most <see cref="PortRaceAttempts"/> times; any other failure is the test's.
    /// </remarks>
    public static async Task<ComposeTopology> StartAsync(TempFolder dir, Func<DockerfileText, string> appFolder)
    {
        for (var attempt = 1; ; attempt++)
        {
            var topology = new ComposeTopology(dir, appFolder, attempt == 1 ? string.Empty : $"attempt{attempt}-");
            try
            {
                await topology.StartCoreAsync();
                return topology;
            }
            catch (Exception ex) when (attempt < PortRaceAttempts && topology.LostAPortRace(ex))
            {
                topology.Dispose();
            }
            catch
            {
                topology.Dispose();
                throw;
            }
        }
    }

    /// <summary>Starts tried before a lost port race fails the test.</summary>
    private const int PortRaceAttempts = 3;

    /// <summary>A service could not bind the port picked for it (see <see cref="StartAsync"/>).</summary>
    private bool LostAPortRace(Exception failure) =>
        IsAddressInUse(failure.Message) || _running.Values.Any(p => p.HasExited && IsAddressInUse(p.Stderr + p.Stdout));

    private static bool IsAddressInUse(string text) => text.Contains("address already in use", StringComparison.OrdinalIgnoreCase);

    private async Task StartCoreAsync()
    {
        // Before the first `up`: "docker compose run --rm --no-deps metadata user add admin --data /data".
        var admin = await RunOnceAsync("metadata", ["user", "add", "admin", "--data", "/data"]);
        var adminToken = TokenLine().Match(admin).Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(adminToken), "user add admin printed no token:\n" + admin);

        foreach (var name in _services.Keys)
        {
            await StartServiceAsync(name, []);
        }

        // As `up` leaves it: every long-running service healthy by its image's health check.
        foreach (var name in _running.Keys.ToList())
        {
            await WaitHealthyAsync(name);
        }

        var metadata = _services["metadata"];
        MetadataUrl = Translate("metadata", $"https://{PublicHost}:5080");
        var tlsCa = Array.IndexOf(metadata.Command!, "--tls-ca");
        Assert.True(tlsCa >= 0, "the metadata service has no --tls-ca");
        CaFile = Translate("metadata", metadata.Command![tlsCa + 1]);
        Assert.True(File.Exists(CaFile), $"no CA at {CaFile}");

        // "... run --rm --no-deps metadata user add alice --quota 100000000000 --server https://metadata:5080 --token ADMIN_TOKEN --ca /tls/ca.crt"
        var alice = await RunOnceAsync("metadata", ["user", "add", "alice", "--quota", "100000000000", "--server", "https://metadata:5080", "--token", adminToken, "--ca", "/tls/ca.crt"]);
        Token = TokenLine().Match(alice).Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(Token), "online user add alice printed no token:\n" + alice);

        await WaitForEveryStorageNodeLiveAsync();
    }

    /// <summary>Starts <paramref name="name"/> after its dependencies have met their conditions.</summary>
    private async Task StartServiceAsync(string name, HashSet<string> visiting)
    {
        if (_running.ContainsKey(name) || _ready.Contains(name))
        {
            return;
        }

        Assert.True(visiting.Add(name), $"compose.yaml's depends_on has a cycle through {name}");
        var service = _services[name];
        foreach (var (dependency, condition) in service.DependsOn)
        {
            Assert.True(_services.ContainsKey(dependency), $"{name} depends on unknown service {dependency}");
            await StartServiceAsync(dependency, visiting);
            switch (condition)
            {
                case "service_completed_successfully":
                    await WaitExitedSuccessfullyAsync(dependency);
                    break;
                case "service_healthy":
                    await WaitHealthyAsync(dependency);
                    break;
                case "service_started":
                    break;
                default:
                    throw new InvalidOperationException($"{name} depends on {dependency} with condition '{condition}', which the topology does not know");
            }
        }

        if (!_ready.Contains(name))
        {
            _running[name] = Start(name, service.Command ?? _images[name].Cmd ?? []);
        }
    }

    private ChildProcess Start(string name, IEnumerable<string> command)
    {
        var image = _images[name];
        var entrypoint = image.Entrypoint;
        Assert.Equal(ImageEntrypoint, entrypoint[0]);
        Assert.Contains(image.ContextCopies, c => c.Sources.SequenceEqual(["docker/entrypoint.sh"]) && c.Destination == ImageEntrypoint);
        var appFolder = _appFolder(image);
        var environment = new Dictionary<string, string>(_services[name].Environment);
        // The entrypoint runs the node from the image's /app; here, from the folder standing for it.
        return ChildProcess.StartLikeImage(Path.Combine(appFolder, entrypoint[1]), [.. entrypoint.Skip(2).Concat(command).Select(a => Translate(name, a))], environment);
    }

    /// <summary>As <c>docker compose run --rm --no-deps SERVICE COMMAND</c>: must exit 0; returns its stdout.</summary>
    private async Task<string> RunOnceAsync(string name, string[] command)
    {
        using var process = Start(name, command);
        var code = await process.WaitForExitAsync(Bounded);
        Assert.True(code == 0, $"{name} {string.Join(' ', command)}: exit {code}\n{process.Stdout}\n{process.Stderr}");
        return process.Stdout;
    }

    private async Task WaitExitedSuccessfullyAsync(string name)
    {
        if (_ready.Contains(name))
        {
            return;
        }

        var process = _running[name];
        var code = await process.WaitForExitAsync(Bounded);
        Assert.True(code == 0, $"{name} exited {code}\n{process.Stdout}\n{process.Stderr}");
        _running.Remove(name);
        process.Dispose();
        _ready.Add(name);
    }

    /// <summary>Runs the service's Dockerfile HEALTHCHECK command until it passes (bounded), as Docker would.</summary>
    private async Task WaitHealthyAsync(string name)
    {
        var command = _images[name].HealthcheckCommand ?? throw new InvalidOperationException($"{name}'s image has no HEALTHCHECK to wait on");
        var translated = Translate(name, command);
        var clock = Stopwatch.StartNew();
        var last = "not run";
        while (clock.Elapsed < Bounded)
        {
            if (_running[name].HasExited)
            {
                throw new InvalidOperationException($"{name} exited ({_running[name].ExitCode}) before it was healthy:\n{_running[name].Stdout}\n{_running[name].Stderr}");
            }

            var (code, stdout, stderr) = await ShellCommand.RunAsync("sh", ["-c", translated], TimeSpan.FromSeconds(30));
            if (code == 0)
            {
                return;
            }

            last = $"exit {code}: {stdout}{stderr}";
            await Task.Delay(200);
        }

        throw new TimeoutException($"{name} never passed its health check `{translated}` ({last}):\n{Logs}");
    }

    private async Task WaitForEveryStorageNodeLiveAsync()
    {
        var storage = ServicesOf("Dockerfile.storage").Count();
        using var http = new HttpClient(ServerTrust.ForCaFile(CaFile!, "the compose CA").CreateHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        var clock = Stopwatch.StartNew();
        double live = 0;
        while (clock.Elapsed < Bounded)
        {
            live = (await PrometheusText.ScrapeAsync(http, MetadataMetricsUrl)).Sum("dropbox_storage_nodes", ("state", "live"));
            if (live == storage)
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{live} of {storage} storage nodes live after {Bounded}:\n{Logs}");
    }

    /// <summary>
    /// What a container of <paramref name="service"/> sees, as the test machine has it: listen URLs on 0.0.0.0 or
    /// localhost and URLs naming a service or PUBLIC_HOST get the port standing for that container port; a volume's
    /// mount path becomes its folder.
    /// </summary>
    public string Translate(string service, string text)
    {
        text = Url().Replace(text, m =>
        {
            var host = m.Groups["host"].Value;
            var port = int.Parse(m.Groups["port"].Value, CultureInfo.InvariantCulture);
            var mapped = host switch
            {
                "0.0.0.0" or "localhost" => Port(service, port),
                PublicHost => _published.TryGetValue(port, out var target) ? _ports[target] : throw new InvalidOperationException($"{service}: {m.Value} names PUBLIC_HOST with port {port}, which no service publishes"),
                _ when _services.ContainsKey(host) => Port(host, port),
                _ => throw new InvalidOperationException($"{service}: {m.Value} names host {host}, neither a service nor PUBLIC_HOST"),
            };
            return $"{m.Groups["scheme"].Value}://{(host == "localhost" ? "localhost" : "127.0.0.1")}:{mapped}";
        });
        foreach (var (volume, target) in _services[service].Volumes)
        {
            text = Regex.Replace(text, $@"(?<=^|[\s=]){Regex.Escape(target)}(?=/|\s|$)", _volumes[volume].Replace("$", "$$", StringComparison.Ordinal));
        }

        return text;
    }

    private int Port(string service, int container) =>
        _ports.TryGetValue((service, container), out var port) ? port : throw new InvalidOperationException($"{service} listens on container port {container}, which compose.yaml does not publish");

    private static string Tail(string s) => s.Length <= 4000 ? s : "..." + s[^4000..];

    public void Dispose()
    {
        foreach (var process in _running.Values)
        {
            process.Dispose();
        }

        _running.Clear();
    }

    [GeneratedRegex(@"token:\s*(\S+)")]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"(?<scheme>https?)://(?<host>[A-Za-z0-9.\-]+):(?<port>\d+)")]
    private static partial Regex Url();
}
