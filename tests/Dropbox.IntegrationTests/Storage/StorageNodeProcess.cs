using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>A real storage node child process (<c>dotnet Dropbox.StorageNode.dll</c>) on 127.0.0.1 port 0.</summary>
public sealed partial class StorageNodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<(string Grpc, string Http)> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    private StorageNodeProcess(Process process)
    {
        _process = process;
    }

    public string GrpcUrl { get; private set; } = string.Empty;

    public string HttpUrl { get; private set; } = string.Empty;

    public string Output => string.Join('\n', _output);

    /// <summary>The built node next to the test assembly (it is a ProjectReference), else its own build output.</summary>
    public static string FindNodeDll()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "Dropbox.StorageNode.dll");
        if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "Dropbox.StorageNode.runtimeconfig.json")))
        {
            return beside;
        }

        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dropbox.sln")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            throw new FileNotFoundException("Cannot find Dropbox.StorageNode.dll; build src/StorageNode first.");
        }

        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        return Path.Combine(dir.FullName, "src", "StorageNode", "bin", configuration, "net10.0", "Dropbox.StorageNode.dll");
    }

    public static async Task<StorageNodeProcess> StartAsync(string dataDirectory, string keysDirectory, string nodeId, string? metadataUrl = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(FindNodeDll());
        foreach (var arg in new[] { "--data", dataDirectory, "--urls", "http://127.0.0.1:0", "--keys", keysDirectory, "--node-id", nodeId })
        {
            info.ArgumentList.Add(arg);
        }

        if (metadataUrl is not null)
        {
            info.ArgumentList.Add("--metadata");
            info.ArgumentList.Add(metadataUrl);
        }

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var node = new StorageNodeProcess(process);
        process.OutputDataReceived += (_, e) => node.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => node.OnLine(e.Data);
        process.Exited += (_, _) => node._bound.TrySetException(new InvalidOperationException($"The storage node exited with {process.ExitCode}:\n{node.Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        (node.GrpcUrl, node.HttpUrl) = await node._bound.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return node;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            _bound.TrySetResult((match.Groups[1].Value, match.Groups[2].Value));
        }
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(30_000);
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    [GeneratedRegex(@"listening: grpc=(\S+) http=(\S+)")]
    private static partial Regex ListeningLine();
}
