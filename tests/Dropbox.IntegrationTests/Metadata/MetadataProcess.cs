using System.Diagnostics;
using System.Text;

// Not "...Metadata": that namespace would shadow Grpc.Core.Metadata for every sibling test folder.
namespace Dropbox.IntegrationTests.MetadataNodeTests;

/// <summary>Runs the metadata node as a real child process (<c>dotnet Dropbox.MetadataNode.dll ...</c>) from the test output.</summary>
internal sealed class MetadataProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private MetadataProcess(Process process) => _process = process;

    public string Url { get; private set; } = string.Empty;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private static string Dll => Path.Combine(AppContext.BaseDirectory, "Dropbox.MetadataNode.dll");

    /// <summary>Runs a one-shot verb (e.g. <c>user add NAME --data DIR</c>) and returns its exit code and stdout.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunVerbAsync(params string[] args)
    {
        var info = Start(args);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts the server and waits (bounded) until it prints the URL it listens on.</summary>
    public static async Task<MetadataProcess> StartServerAsync(string data, string keys)
    {
        var process = Process.Start(Start(["--data", data, "--urls", "http://127.0.0.1:0", "--keys", keys, "--gc-interval-seconds", "0"]))!;
        var result = new MetadataProcess(process);
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                ready.TrySetException(new InvalidOperationException("metadata node exited before listening:\n" + result.Output));
                return;
            }

            lock (result._output)
            {
                result._output.AppendLine(e.Data);
            }

            if (e.Data.StartsWith("listening: ", StringComparison.Ordinal))
            {
                ready.TrySetResult(e.Data["listening: ".Length..].Trim());
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (result._output)
                {
                    result._output.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            result.Url = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            result.Dispose();
            throw;
        }

        return result;
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit(30_000);
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private static ProcessStartInfo Start(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(Dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_gcServer"] = "0";
        return info;
    }
}
