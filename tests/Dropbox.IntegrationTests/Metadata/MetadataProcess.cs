using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;

// Not "...Metadata": that namespace would shadow Grpc.Core.Metadata for every sibling test folder.
namespace Dropbox.IntegrationTests.MetadataNodeTests;

/// <summary>Runs the metadata node as a real child process (<c>dotnet Dropbox.MetadataNode.dll ...</c>).</summary>
internal sealed partial class MetadataProcess : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly ChildProcess _process;

    private MetadataProcess(ChildProcess process) => _process = process;

    public string Url { get; private set; } = string.Empty;

    public string Output => _process.Stdout + _process.Stderr;

    /// <summary>Runs a one-shot verb (e.g. <c>user add NAME --data DIR</c>) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunVerbAsync(params string[] args)
    {
        using var verb = ChildProcess.Start(Binaries.MetadataNode, args);
        var code = await verb.WaitForExitAsync(Timeout);
        return (code, verb.Stdout, verb.Stderr);
    }

    /// <summary>Starts the server and waits (bounded) until it prints the URL it listens on.</summary>
    public static async Task<MetadataProcess> StartServerAsync(string data, string keys)
    {
        var server = new MetadataProcess(ChildProcess.Start(Binaries.MetadataNode, ["--data", data, "--urls", "http://127.0.0.1:0", "--keys", keys, "--gc-interval-seconds", "0"]));
        try
        {
            server.Url = (await server._process.WaitForOutputAsync(ListeningLine(), Timeout)).Groups[1].Value;
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>SIGTERM, as an operator stops it; waits (bounded) for a clean exit.</summary>
    public async Task StopAsync()
    {
        _process.Signal(15);
        Assert.Equal(0, await _process.WaitForExitAsync(Timeout));
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill() => _process.Kill();

    public void Dispose() => _process.Dispose();

    [GeneratedRegex(@"^listening: (\S+)", RegexOptions.Multiline)]
    private static partial Regex ListeningLine();
}
