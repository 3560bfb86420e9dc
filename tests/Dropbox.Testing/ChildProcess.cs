using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Dropbox.Testing;

/// <summary>A real child process (<c>dotnet X.dll ...</c>, or a native executable) with its output captured line by line; killed with SIGKILL on dispose.</summary>
public sealed partial class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _lock = new();

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public static ChildProcess Start(string dll, IEnumerable<string> args, IDictionary<string, string>? environment = null) =>
        dll.EndsWith(".dll", StringComparison.Ordinal)
            ? Start("dotnet", [dll, .. args], Path.GetDirectoryName(dll)!, environment)
            : Start(dll, args, Path.GetDirectoryName(dll)!, environment); // a native executable (the natively compiled client)

    /// <summary>
    /// Runs a node as its docker image does: <c>docker/entrypoint.sh DLL ARGS</c> (which checks PUBLIC_HOST and execs
    /// dotnet, so the process is the node itself), with APP_DIR at the built dll's folder.
    /// </summary>
    public static ChildProcess StartLikeImage(string dll, IEnumerable<string> args, IDictionary<string, string> environment)
    {
        var env = new Dictionary<string, string>(environment) { ["APP_DIR"] = Path.GetDirectoryName(dll)! };
        return Start("sh", [Path.Combine(Binaries.RepositoryRoot, "docker", "entrypoint.sh"), Path.GetFileName(dll), .. args], Path.GetDirectoryName(dll)!, env);
    }

    private static ChildProcess Start(string fileName, IEnumerable<string> args, string workingDirectory, IDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_gcServer"] = "0";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        var process = new Process { StartInfo = info };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (child._lock)
                {
                    child._stdout.AppendLine(e.Data);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (child._lock)
                {
                    child._stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Stdout
    {
        get
        {
            lock (_lock)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_lock)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Waits for a stdout line matching <paramref name="pattern"/>; returns the match.</summary>
    public async Task<Match> WaitForOutputAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var m = pattern.Match(Stdout);
            if (m.Success)
            {
                return m;
            }

            if (_process.HasExited)
            {
                await Task.Delay(50);
                m = pattern.Match(Stdout);
                if (m.Success)
                {
                    return m;
                }

                throw new InvalidOperationException($"Process exited with {_process.ExitCode} before printing /{pattern}/.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"No /{pattern}/ within {timeout}.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"Process did not exit within {timeout}.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }

        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    /// <summary>Sends a POSIX signal (SIGINT = 2, SIGTERM = 15) to the process, as <c>kill -SIG PID</c> would.</summary>
    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>SIGKILL (the whole tree), no chance to clean up.</summary>
    public void Kill()
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
