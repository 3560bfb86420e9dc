using Dropbox.SyncClient.Cli;

namespace Dropbox.SyncClient.Tests;

/// <summary>Runs the client's command line in this process, as the executable's entry does, and returns what it wrote.</summary>
internal static class InProcessClient
{
    /// <summary>Runs <paramref name="argv"/> (not a terminal), at most 60 s; the exit code and standard output and error.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string[] argv)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await new ClientApp(output, error, terminal: false).RunAsync(argv, timeout.Token);
        return (code, output.ToString(), error.ToString());
    }
}
