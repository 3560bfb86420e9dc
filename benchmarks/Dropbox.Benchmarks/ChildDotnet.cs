using System.Diagnostics;

namespace Dropbox.Benchmarks;

/// <summary>Starting and stopping <c>dotnet X.dll ...</c> child processes (nodes, the appliance, clients).</summary>
internal static class ChildDotnet
{
    /// <summary>Start info for <c>dotnet <paramref name="dll"/> <paramref name="args"/></c>, stdout and stderr redirected.</summary>
    public static ProcessStartInfo StartInfo(string dll, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return info;
    }

    /// <summary>Kills the process tree if it still runs, waits (bounded) for it, and disposes it.</summary>
    public static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(30_000);
        }

        process.Dispose();
    }
}
