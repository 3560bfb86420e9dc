using System.Diagnostics;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;
using Dropbox.IntegrationTests.Observability;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// <c>standalone --storage-nodes N --replicas R --node-dead-after S</c> as a real process: its <c>storage-node:</c>,
/// <c>metrics:</c> and <c>ready:</c> lines parsed, storage nodes SIGKILLed by pid, metrics scraped, clients run as
/// real processes against it.
/// </summary>
internal sealed partial class StandaloneNodes : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan VerbTimeout = TimeSpan.FromSeconds(180);
    private readonly TempFolder _dir;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private StandaloneNodes(TempFolder dir, ChildProcess process)
    {
        _dir = dir;
        Process = process;
    }

    public ChildProcess Process { get; }

    public string Url { get; private set; } = string.Empty;

    public string Token { get; private set; } = string.Empty;

    /// <summary>Each storage node's gRPC URL and pid, in order.</summary>
    public List<(string Url, int Pid)> StorageNodes { get; } = [];

    /// <summary>The metadata node's metrics URL, then each storage node's.</summary>
    public List<string> MetricsUrls { get; } = [];

    public static async Task<StandaloneNodes> StartAsync(TempFolder dir, int nodes, int replicas, int deadAfterSeconds, string logLevel = "warning")
    {
        var process = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", dir.CreateSub("appliance"), "--port", "0", "--storage-nodes", nodes.ToString(System.Globalization.CultureInfo.InvariantCulture), "--replicas", replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), "--node-dead-after", deadAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--log-level", logLevel]);
        var app = new StandaloneNodes(dir, process);
        try
        {
            app.Url = (await process.WaitForOutputAsync(ReadyLine(), StartTimeout)).Groups[1].Value;
            var stdout = process.Stdout;
            app.Token = TokenLine().Match(stdout).Groups[1].Value;
            app.StorageNodes.AddRange(StorageNodeLine().Matches(stdout).Select(m => (m.Groups[1].Value, int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture))));
            app.MetricsUrls.AddRange(MetricsLine().Matches(stdout).Select(m => m.Groups[1].Value));
            return app;
        }
        catch
        {
            app.Dispose();
            throw;
        }
    }

    /// <summary>SIGKILLs storage node <paramref name="index"/> (0-based) and waits until it is gone.</summary>
    public void KillStorageNode(int index)
    {
        using var node = System.Diagnostics.Process.GetProcessById(StorageNodes[index].Pid);
        node.Kill();
        Assert.True(node.WaitForExit(10_000), $"storage node {index} survived SIGKILL");
    }

    /// <summary>SIGSTOPs storage node <paramref name="index"/> (0-based): it hangs with its connections open, failing nothing.</summary>
    public void FreezeStorageNode(int index)
    {
        using var stop = System.Diagnostics.Process.Start(new ProcessStartInfo("kill", ["-STOP", StorageNodes[index].Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        Assert.True(stop.WaitForExit(10_000) && stop.ExitCode == 0, "kill -STOP failed");
    }

    /// <summary>Scrapes the metadata node's metrics.</summary>
    public Task<PrometheusText> MetadataMetricsAsync() => PrometheusText.ScrapeAsync(_http, MetricsUrls[0]);

    /// <summary>Sum of one counter over the storage nodes still answering.</summary>
    public async Task<double> SumOverStorageAsync(string name)
    {
        double sum = 0;
        foreach (var url in MetricsUrls.Skip(1))
        {
            try
            {
                sum += (await PrometheusText.ScrapeAsync(_http, url)).Single(name);
            }
            catch (HttpRequestException)
            {
                // A killed node.
            }
        }

        return sum;
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds; fails after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> explain)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed >= timeout)
            {
                Assert.Fail($"not within {timeout}: {explain()}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Logs a client in: its folder and state directory.</summary>
    public async Task<(string Folder, string State)> LoginAsync(string name)
    {
        var folder = _dir.CreateSub(name + "-folder");
        var state = _dir.CreateSub(name + "-state");
        using var login = StartClient(state, "login", "--server", Url, "--token", Token, "--folder", folder, "--device", name);
        await ExpectSuccessAsync(login, "login");
        return (folder, state);
    }

    public static ChildProcess StartClient(string state, params string[] args) => ChildProcess.Start(Binaries.SyncClient, [.. args, "--state", state]);

    public static async Task ExpectSuccessAsync(ChildProcess client, string what)
    {
        var code = await client.WaitForExitAsync(VerbTimeout);
        Assert.True(code == 0, $"client {what} exited {code}\nstdout:\n{client.Stdout}\nstderr:\n{client.Stderr}");
    }

    public void Dispose()
    {
        _http.Dispose();
        Process.Dispose();
    }

    [GeneratedRegex(@"^token: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"^storage-node: (http://127\.0\.0\.1:\d+) pid (\d+)( \(in-process\))?\s*$", RegexOptions.Multiline)]
    private static partial Regex StorageNodeLine();

    [GeneratedRegex(@"^metrics: (http://127\.0\.0\.1:\d+/metrics)\s*$", RegexOptions.Multiline)]
    private static partial Regex MetricsLine();

    [GeneratedRegex(@"^ready: (http://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();
}
