using System.Diagnostics;

namespace Dropbox.Benchmarks.Client;

/// <summary>The standalone appliance (<c>Dropbox.Appliance standalone</c>) as a child process on 127.0.0.1, a free port.</summary>
internal sealed class ApplianceProcess : IDisposable
{
    private readonly Process _process;

    private ApplianceProcess(Process process, string url, string token)
    {
        _process = process;
        Url = url;
        Token = token;
    }

    /// <summary>The metadata node URL clients log in to.</summary>
    public string Url { get; }

    /// <summary>The first user's token.</summary>
    public string Token { get; }

    public static async Task<ApplianceProcess> StartAsync(string data)
    {
        var dll = BuiltBinaries.Find("Appliance", "Dropbox.Appliance.dll");
        var info = ChildDotnet.StartInfo(dll, ["standalone", "--data", data, "--port", "0", "--log-level", "warning"]);
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the appliance.");
        _ = process.StandardError.ReadToEndAsync();
        string? token = null;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
        {
            if (line.StartsWith("token: ", StringComparison.Ordinal))
            {
                token = line["token: ".Length..].Trim();
            }
            else if (line.StartsWith("ready: ", StringComparison.Ordinal) && token is not null)
            {
                _ = process.StandardOutput.ReadToEndAsync();
                return new ApplianceProcess(process, line["ready: ".Length..].Trim(), token);
            }
        }

        process.Dispose();
        throw new InvalidOperationException("The appliance exited before it was ready.");
    }

    public void Dispose() => ChildDotnet.Stop(_process);
}
