using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// The README's first command, as a user runs it: <c>Dropbox.Appliance standalone</c> as a real process,
/// two real sync clients against it, a clean stop on SIGTERM, and a restart on the same data folder.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class StandaloneApplianceTests : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan VerbTimeout = TimeSpan.FromSeconds(120);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    [Fact]
    public async Task Standalone_serves_two_clients_stops_on_sigterm_and_keeps_everything_across_a_restart()
    {
        // Arrange: the appliance on an ephemeral port with a new data folder.
        var data = _dir.CreateSub("appliance");
        string url, token;
        var content = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        using (var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", data, "--port", "0"]))
        {
            token = (await appliance.WaitForOutputAsync(TokenLine(), StartTimeout)).Groups[1].Value;
            url = (await appliance.WaitForOutputAsync(ReadyLine(), StartTimeout)).Groups[1].Value;

            var alpha = await LoginAsync("alpha", url, token);
            var beta = await LoginAsync("beta", url, token);
            await File.WriteAllBytesAsync(Path.Combine(alpha.Folder, "photo.raw"), content);

            // Act: one pass on each client.
            await RunClientAsync(alpha.State, "sync", "--once");
            await RunClientAsync(beta.State, "sync", "--once");

            // Assert: the bytes arrived intact through the appliance.
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(beta.Folder, "photo.raw")));

            // One metrics line per node before ready:, each a Prometheus endpoint over plain HTTP/1.1 whose counters
            // saw the upload; requests are logged at information level.
            var metricsUrls = MetricsLine().Matches(appliance.Stdout).Select(m => m.Groups[1].Value).ToList();
            Assert.Equal(2, metricsUrls.Count);
            Assert.True(appliance.Stdout.IndexOf("metrics: ", StringComparison.Ordinal) < appliance.Stdout.IndexOf("ready: ", StringComparison.Ordinal), appliance.Stdout);
            using (var http = new HttpClient())
            {
                var metadataMetrics = await Observability.PrometheusText.ScrapeAsync(http, metricsUrls[0]);
                var storageMetrics = await Observability.PrometheusText.ScrapeAsync(http, metricsUrls[1]);
                Assert.True(metadataMetrics.Single("dropbox_metadata_chunks_planned_total") >= 1, metadataMetrics.Text);
                Assert.True(storageMetrics.Single("dropbox_storage_chunks_stored_total") >= 1, storageMetrics.Text);
                Assert.Equal(0, metadataMetrics.Single("dropbox_chunks_under_replicated"));
                Assert.Equal("ok", await http.GetStringAsync(metricsUrls[0].Replace("/metrics", "/healthz", StringComparison.Ordinal)));
            }

            // One storage-node line before ready:, as --storage-nodes N prints per node (the pattern StandaloneNodes
            // parses): the in-process node's gRPC URL, which answers as a storage node, and the appliance's own pid,
            // marked " (in-process)" so nobody takes the pid for a node's own.
            var nodeLine = Assert.Single(StorageNodeLine().Matches(appliance.Stdout));
            Assert.Equal(appliance.Id, int.Parse(nodeLine.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(nodeLine.Groups[3].Success, nodeLine.Value);
            Assert.True(nodeLine.Index < appliance.Stdout.IndexOf("ready: ", StringComparison.Ordinal), appliance.Stdout);
            using (var channel = Grpc.Net.Client.GrpcChannel.ForAddress(nodeLine.Groups[1].Value))
            {
                var storage = new Dropbox.Shared.Protos.Storage.ChunkStorage.ChunkStorageClient(channel);
                var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await storage.GetStatsAsync(new Dropbox.Shared.Protos.Storage.GetStatsRequest { Token = "not-a-token" }));
                Assert.Equal(Grpc.Core.StatusCode.Unauthenticated, refused.StatusCode);
            }

            // The console logger writes from a queue: wait for the line rather than read stdout once.
            await appliance.WaitForOutputAsync(SyncRequestLogLine(), StartTimeout);

            // SIGTERM stops both nodes cleanly.
            SendSigterm(appliance.Id);
            Assert.Equal(0, await appliance.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("stopped", appliance.Stdout, StringComparison.Ordinal);
        }

        // Data, keys and the kept token are owner-only.
        const UnixFileMode folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        foreach (var dir in new[] { data, Path.Combine(data, "metadata"), Path.Combine(data, "storage"), Path.Combine(data, "keys") })
        {
            Assert.Equal(folder, File.GetUnixFileMode(dir));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "owner.token")));
        Assert.All(Directory.GetFiles(Path.Combine(data, "storage", "segments")), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));

        // A restart on the same folder still holds the file but does not print the token (it would land in service
        // logs on every start); the explicit admin verb shows it.
        using (var again = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", data, "--port", "0"]))
        {
            var url2 = (await again.WaitForOutputAsync(ReadyLine(), StartTimeout)).Groups[1].Value;
            Assert.DoesNotMatch(TokenLine(), again.Stdout);
            Assert.DoesNotContain(token, again.Stdout + again.Stderr, StringComparison.Ordinal);
            using var show = ChildProcess.Start(Binaries.MetadataNode, ["user", "token", "owner", "--data", data]);
            Assert.Equal(0, await show.WaitForExitAsync(VerbTimeout));
            var token2 = TokenLine().Match(show.Stdout).Groups[1].Value;
            Assert.Equal(token, token2);

            var gamma = await LoginAsync("gamma", url2, token2);
            await RunClientAsync(gamma.State, "sync", "--once");
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(gamma.Folder, "photo.raw")));
        }
    }

    [Fact]
    public async Task Standalone_refuses_a_bad_port_with_a_clear_message_and_creates_nothing()
    {
        var data = _dir.CreateSub("never");
        Directory.Delete(data);
        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", data, "--port", "70000"]);

        var code = await appliance.WaitForExitAsync(StartTimeout);

        Assert.NotEqual(0, code);
        Assert.Contains("--port", appliance.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(data), "a refused start must not create the data folder");
    }

    private async Task<(string Folder, string State)> LoginAsync(string name, string url, string token)
    {
        var folder = _dir.CreateSub(name + "-folder");
        var state = _dir.CreateSub(name + "-state");
        await RunClientAsync(state, "login", "--server", url, "--token", token, "--folder", folder, "--device", name);
        return (folder, state);
    }

    private static async Task RunClientAsync(string state, params string[] args)
    {
        using var client = ChildProcess.Start(Binaries.SyncClient, [.. args, "--state", state]);
        var code = await client.WaitForExitAsync(VerbTimeout);
        Assert.True(code == 0, $"client {string.Join(' ', args)} exited {code}\nstdout:\n{client.Stdout}\nstderr:\n{client.Stderr}");
    }

    private static void SendSigterm(int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit(10_000);
        Assert.Equal(0, kill.ExitCode);
    }

    [GeneratedRegex(@"^token: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"^metrics: (http://127\.0\.0\.1:\d+/metrics)\s*$", RegexOptions.Multiline)]
    private static partial Regex MetricsLine();

    [GeneratedRegex(@"^storage-node: (http://127\.0\.0\.1:\d+) pid (\d+)( \(in-process\))?\s*$", RegexOptions.Multiline)]
    private static partial Regex StorageNodeLine();

    // Which planning call a new file takes (PlanChunks windows, or PlanUpload after a change mid-read) depends on timing.
    [GeneratedRegex(@"HTTP POST /dropbox\.metadata\.v1\.Sync/\w+ HTTP/2 -> 200")]
    private static partial Regex SyncRequestLogLine();

    [GeneratedRegex(@"^ready: (http://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();
}
