using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>A real storage node child process (<c>dotnet Dropbox.StorageNode.dll</c>) on 127.0.0.1 port 0.</summary>
internal sealed partial class StorageNodeProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly Dictionary<string, string> Quiet = new() { ["Logging__LogLevel__Default"] = "Warning" };
    private readonly ChildProcess _process;

    private StorageNodeProcess(ChildProcess process)
    {
        _process = process;
    }

    public string GrpcUrl { get; private set; } = string.Empty;

    public string HttpUrl { get; private set; } = string.Empty;

    public string Output => _process.Stdout + _process.Stderr;

    /// <param name="reserveMb">The node's <c>--reserve-mb</c> (free space it keeps; more than the disk has makes it full).</param>
    /// <param name="logLevel">Its default log level (warnings only unless told).</param>
    public static async Task<StorageNodeProcess> StartAsync(string dataDirectory, string keysDirectory, string nodeId, string? metadataUrl = null, long? reserveMb = null, string? logLevel = null)
    {
        List<string> args = ["--data", dataDirectory, "--urls", "http://127.0.0.1:0", "--keys", keysDirectory, "--node-id", nodeId];
        if (metadataUrl is not null)
        {
            args.AddRange(["--metadata", metadataUrl]);
        }

        if (reserveMb is { } reserve)
        {
            args.AddRange(["--reserve-mb", reserve.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        var environment = logLevel is null ? Quiet : new Dictionary<string, string> { ["Logging__LogLevel__Default"] = logLevel };
        var node = new StorageNodeProcess(ChildProcess.Start(Binaries.StorageNode, args, environment));
        try
        {
            var match = await node._process.WaitForOutputAsync(ListeningLine(), StartTimeout);
            node.GrpcUrl = match.Groups[1].Value;
            node.HttpUrl = match.Groups[2].Value;
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    /// <summary>Waits (bounded) for a line of its output matching <paramref name="pattern"/>.</summary>
    public Task<Match> WaitForOutputAsync(Regex pattern, TimeSpan timeout) => _process.WaitForOutputAsync(pattern, timeout);

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill() => _process.Kill();

    public void Dispose() => _process.Dispose();

    [GeneratedRegex(@"listening: grpc=(\S+) http=(\S+)")]
    private static partial Regex ListeningLine();
}
