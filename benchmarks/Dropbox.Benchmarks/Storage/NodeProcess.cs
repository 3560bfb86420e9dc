using System.Diagnostics;

namespace Dropbox.Benchmarks.Storage;

/// <summary>A storage node as a child process, so the benchmark client is a second process.</summary>
internal sealed class NodeProcess : IDisposable
{
    private readonly Process _process;

    private NodeProcess(Process process, string grpcUrl, string httpUrl)
    {
        _process = process;
        GrpcUrl = grpcUrl;
        HttpUrl = httpUrl;
    }

    public string GrpcUrl { get; }

    public string HttpUrl { get; }

    /// <summary>The node's process id (to point a profiler at it).</summary>
    public int Pid => _process.Id;

    /// <summary>CPU time the node process has used so far.</summary>
    public TimeSpan Cpu
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public static async Task<NodeProcess> StartAsync(string data, string keys, string nodeId)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Dropbox.StorageNode.dll");
        var info = ChildDotnet.StartInfo(dll, ["--data", data, "--urls", "http://127.0.0.1:0", "--keys", keys, "--node-id", nodeId, "--log-level", "warning"]);

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["DOTNET_TieredPGO"] = "1";
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the storage node.");
        _ = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
        {
            var at = line.IndexOf("listening: grpc=", StringComparison.Ordinal);
            if (at >= 0)
            {
                var parts = line[(at + "listening: ".Length)..].Split(' ');
                _ = process.StandardOutput.ReadToEndAsync();
                return new NodeProcess(process, parts[0]["grpc=".Length..], parts[1]["http=".Length..]);
            }
        }

        throw new InvalidOperationException("The storage node exited before listening.");
    }

    public void Dispose() => ChildDotnet.Stop(_process);
}
