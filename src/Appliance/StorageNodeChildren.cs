using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;
using Dropbox.Hosting;

namespace Dropbox.Appliance;

/// <summary>
/// <c>standalone --storage-nodes N</c>: N storage nodes as child processes of the appliance, each the storage node's
/// own program with the command line the docker image runs (<c>dotnet Dropbox.StorageNode.dll --data … --keys …
/// --metadata … --node-id …</c>), on the appliance's address. A child that dies (say SIGKILL in a test) stays dead:
/// that is a lost node, for the metadata node to notice and re-replicate. Their log lines are passed on prefixed with
/// the node id (<c>[storage-2] …</c>), or, with <c>--log-format json</c>, as the node wrote them with a first property
/// <c>"Node":"storage-2"</c>, so every line stays one JSON object a log shipper parses; stopping sends each SIGTERM,
/// then SIGKILL after the grace period. Each child's stdin is a pipe from this process that is never written: when the
/// appliance dies, however (SIGKILL too), the pipe closes and every child stops (<see cref="ParentWatch"/>), so no
/// storage node is left orphaned holding its ports and data folder.
/// </summary>
internal sealed partial class StorageNodeChildren : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly List<Child> _children = [];

    private StorageNodeChildren()
    {
    }

    /// <summary>The nodes, in order: id, gRPC URL, HTTP/1.1 URL (presigned links, probes), metrics URL, process id.</summary>
    public IReadOnlyList<Child> Nodes => _children;

    /// <summary>Starts <paramref name="count"/> nodes and waits until each listens.</summary>
    /// <remarks>
    /// Ports (when <paramref name="port"/> is not 0): node i (1-based) listens for gRPC on PORT+3+3i, presigned links on
    /// PORT+4+3i and metrics (on <paramref name="metricsHost"/>) on PORT+5+3i, clear of the metadata node's PORT, PORT+3
    /// and PORT+4.
    /// </remarks>
    public static async Task<StorageNodeChildren> StartAsync(int count, string data, string keys, string metadataUrl, string scheme, string host, string metricsHost, int port, bool tls, bool insecureHttp, NodeLogging logging, bool directIo, CancellationToken cancellationToken)
    {
        var children = new StorageNodeChildren();
        try
        {
            for (var i = 1; i <= count; i++)
            {
                var nodeId = $"storage-{i}";
                // Node 1 keeps the single-node appliance's folder, so a data folder can grow from one node to several.
                var dir = Path.Combine(data, i == 1 ? "storage" : nodeId);
                var grpcPort = port == 0 ? 0 : port + 3 + (3 * i);
                var httpPort = port == 0 ? 0 : port + 4 + (3 * i);
                var metricsPort = port == 0 ? 0 : port + 5 + (3 * i);
                List<string> args =
                [
                    "--data", dir, "--backup-dir", Path.Combine(data, "backups"), "--keys", keys, "--node-id", nodeId,
                    "--urls", $"{scheme}://{host}:{grpcPort};{scheme}://{host}:{httpPort}",
                    "--metrics-url", $"{scheme}://{metricsHost}:{metricsPort}",
                    "--metadata", metadataUrl,
                    "--log-format", logging.Format.ToString().ToLowerInvariant(),
                    "--log-level", logging.MinimumLevel.ToString().ToLowerInvariant(),
                    StorageNode.DirectIoSwitch.Flag, StorageNode.DirectIoSwitch.Format(directIo),

                    // The node watches the pipe on its stdin: if this process dies, even by SIGKILL, it stops too.
                    ParentWatch.Flag,
                ];
                if (tls)
                {
                    var tlsDir = Path.Combine(data, "tls");
                    args.AddRange(["--tls-cert", Path.Combine(tlsDir, LocalCertificateAuthority.ServerCertificateFile), "--tls-key", Path.Combine(tlsDir, LocalCertificateAuthority.ServerKeyFile), "--tls-ca", Path.Combine(tlsDir, LocalCertificateAuthority.CaCertificateFile)]);
                }

                if (insecureHttp)
                {
                    args.Add("--insecure-http");
                }

                children._children.Add(await Child.StartAsync(nodeId, args, logging.Format == LogFormat.Json, cancellationToken).ConfigureAwait(false));
            }

            return children;
        }
        catch
        {
            await children.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>SIGTERM to every node still running, then waits (SIGKILL for any still up when <paramref name="grace"/> ends).</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        foreach (var child in _children)
        {
            child.Terminate();
        }

        using var timeout = new CancellationTokenSource(grace);
        foreach (var child in _children)
        {
            await child.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        foreach (var child in _children)
        {
            child.Dispose();
        }
    }

    [GeneratedRegex(@"^storage node listening: grpc=(\S+) http=(\S+)$")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"^metrics: (\S+)$")]
    private static partial Regex MetricsLine();

    /// <summary>One storage node process.</summary>
    internal sealed class Child : IDisposable
    {
        private readonly Process _process;
        private readonly TaskCompletionSource<(string Grpc, string Http, string Metrics)> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private (string Grpc, string Http)? _bound;
        private readonly System.Text.StringBuilder _early = new();

        // With JSON logs, what replaces a forwarded object's opening brace: the same object, the node named first.
        private readonly string? _jsonPrefix;

        private Child(string nodeId, Process process, bool json)
        {
            NodeId = nodeId;
            _process = process;
            _jsonPrefix = json ? "{\"Node\":" + System.Text.Json.JsonSerializer.Serialize(nodeId) + "," : null;
        }

        public string NodeId { get; }

        public string GrpcUrl { get; private set; } = string.Empty;

        public string HttpUrl { get; private set; } = string.Empty;

        /// <summary>The node's operator-only <c>/metrics</c> URL.</summary>
        public string MetricsUrl { get; private set; } = string.Empty;

        public int Pid => _process.Id;

        public static async Task<Child> StartAsync(string nodeId, List<string> args, bool json, CancellationToken cancellationToken)
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "Dropbox.StorageNode.dll");
            if (!File.Exists(dll))
            {
                throw new DropboxException(ErrorKind.NotFound, $"The storage node's program is not beside this one ({dll}); --storage-nodes above 1 runs it as child processes.");
            }

            // As the docker image runs it: the dotnet host with the dll (this process's host when it is dotnet).
            var self = Environment.ProcessPath;
            var dotnet = self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
            var info = new ProcessStartInfo(dotnet)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = AppContext.BaseDirectory,
            };
            info.ArgumentList.Add(dll);
            foreach (var a in args)
            {
                info.ArgumentList.Add(a);
            }

            var child = new Child(nodeId, new Process { StartInfo = info }, json);
            child._process.OutputDataReceived += (_, e) => child.OnLine(e.Data, Console.Out);
            child._process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, Console.Error);
            child._process.EnableRaisingEvents = true;
            child._process.Exited += (_, _) => child._listening.TrySetException(new DropboxException(ErrorKind.Unavailable, $"Storage node {nodeId} exited before it listened:\n{child.Early}"));
            child._process.Start();
            child._process.BeginOutputReadLine();
            child._process.BeginErrorReadLine();
            try
            {
                var (grpc, http, metrics) = await child._listening.Task.WaitAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
                child.GrpcUrl = grpc;
                child.HttpUrl = http;
                child.MetricsUrl = metrics;
                return child;
            }
            catch (TimeoutException)
            {
                child.Dispose();
                throw new DropboxException(ErrorKind.Unavailable, $"Storage node {nodeId} did not listen within {StartTimeout.TotalSeconds:0} s:\n{child.Early}");
            }
            catch
            {
                child.Dispose();
                throw;
            }
        }

        private string Early
        {
            get
            {
                lock (_early)
                {
                    return _early.ToString();
                }
            }
        }

        private void OnLine(string? line, TextWriter forward)
        {
            if (line is null)
            {
                return;
            }

            if (!_listening.Task.IsCompleted)
            {
                // Kept for the message should the node fail to start; forwarded all the same, since what a node logs
                // while it starts (a torn tail cut off, a corrupt segment to scrub) is what an operator must see.
                lock (_early)
                {
                    _early.AppendLine(line);
                }

                // The program prints its listening line, then its metrics line: the node is up with both. They are
                // this process's to read (it prints its own storage-node: and metrics: lines for them), not passed on.
                var m = ListeningLine().Match(line);
                if (m.Success)
                {
                    _bound = (m.Groups[1].Value.TrimEnd('/'), m.Groups[2].Value.TrimEnd('/'));
                    return;
                }

                if (MetricsLine().Match(line) is { Success: true } metrics && _bound is { } bound)
                {
                    _listening.TrySetResult((bound.Grpc, bound.Http, metrics.Groups[1].Value));
                    return;
                }
            }

            // Marked with the node, so no node's line reads as one of the appliance's own (metrics:, ready:). A JSON log
            // object (it opens with its first property) gets the node as a property; anything else (say a crash's text
            // on stderr) the prefix.
            forward.WriteLine(_jsonPrefix is not null && line.StartsWith("{\"", StringComparison.Ordinal)
                ? string.Concat(_jsonPrefix, line.AsSpan(1))
                : $"[{NodeId}] {line}");
        }

        /// <summary>SIGTERM, as <c>docker stop</c> would send.</summary>
        public void Terminate()
        {
            try
            {
                if (!_process.HasExited)
                {
                    using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false });
                    kill?.WaitForExit(5_000);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        }

        public async Task WaitAsync(CancellationToken timeout)
        {
            try
            {
                await _process.WaitForExitAsync(timeout).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Kill();
            }
            catch (InvalidOperationException)
            {
            }
        }

        private void Kill()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }

        public void Dispose()
        {
            Kill();
            _process.Dispose();
        }
    }
}
