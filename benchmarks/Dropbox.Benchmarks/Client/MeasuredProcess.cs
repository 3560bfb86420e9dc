using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Dropbox.Benchmarks.Client;

/// <summary>
/// One run of <c>dotnet X.dll ...</c> to completion, timed, with its peak resident set size read from
/// <c>/proc/PID/status</c> (VmHWM, the kernel's high-water mark) while it runs: the last value read before
/// the process exits is its peak.
/// </summary>
internal static class MeasuredProcess
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>What one run took.</summary>
    /// <param name="ExitCode">The process's exit code.</param>
    /// <param name="Elapsed">Wall time from start to exit.</param>
    /// <param name="PeakRssBytes">Peak RSS (VmHWM) last read while it ran.</param>
    /// <param name="Output">Its stdout and stderr.</param>
    public sealed record Result(int ExitCode, TimeSpan Elapsed, long PeakRssBytes, string Output);

    /// <summary>Runs <paramref name="dll"/> with <paramref name="args"/>; kills it (and throws) after <paramref name="timeout"/>.</summary>
    public static async Task<Result> RunAsync(string dll, IEnumerable<string> args, TimeSpan timeout)
    {
        var info = ChildDotnet.StartInfo(dll, args);
        info.WorkingDirectory = Path.GetDirectoryName(dll)!;
        var output = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        var watch = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var statusPath = $"/proc/{process.Id}/status";
        long peak = 0;
        var exited = process.WaitForExitAsync();
        while (!exited.IsCompleted)
        {
            if (watch.Elapsed > timeout)
            {
                process.Kill(entireProcessTree: true);
                await exited.ConfigureAwait(false);
                throw new TimeoutException($"{Path.GetFileName(dll)} {string.Join(' ', info.ArgumentList.Skip(1))} did not finish within {timeout}; killed.\n{Tail(output)}");
            }

            peak = Math.Max(peak, ReadHighWaterMark(statusPath));
            await Task.WhenAny(exited, Task.Delay(PollInterval)).ConfigureAwait(false);
        }

        watch.Stop();
        process.WaitForExit(); // drains the output readers
        return new Result(process.ExitCode, watch.Elapsed, peak, Tail(output));
    }

    /// <summary>VmHWM in bytes, or 0 once the process is gone.</summary>
    private static long ReadHighWaterMark(string statusPath)
    {
        try
        {
            foreach (var line in File.ReadLines(statusPath))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kib = line["VmHWM:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // Exited between two reads (or a zombie without memory lines): keep the last value.
        }

        return 0;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Tail(StringBuilder output)
    {
        lock (output)
        {
            var text = output.ToString();
            return text.Length <= 4000 ? text : "..." + text[^4000..];
        }
    }
}
