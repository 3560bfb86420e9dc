using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;
using Xunit.Abstractions;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// <c>nodes list</c> and <c>nodes drain</c> against a running appliance with three storage nodes and two replicas:
/// a drained node's chunks are copied to the others until it holds nothing needed, new chunks skip it, and once it is
/// gone every byte is still readable.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class DrainTests : IDisposable
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(120);
    private readonly TempFolder _dir = new();
    private readonly ITestOutputHelper _output;

    public DrainTests(ITestOutputHelper output)
    {
        _output = output;
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_drained_node_holds_nothing_needed_gets_no_new_chunks_and_can_be_removed_without_loss()
    {
        // Arrange: three nodes, two replicas, a few MiB spread over all three.
        using var app = await StandaloneNodes.StartAsync(_dir, nodes: 3, replicas: 2, deadAfterSeconds: 5);
        var alpha = await app.LoginAsync("alpha");
        var first = RandomNumberGenerator.GetBytes(8 << 20);
        await File.WriteAllBytesAsync(Path.Combine(alpha.Folder, "first.bin"), first);
        using (var up = StandaloneNodes.StartClient(alpha.State, "sync", "--once"))
        {
            await StandaloneNodes.ExpectSuccessAsync(up, "sync");
        }

        var listed = await NodesAsync(app, "list");
        Assert.Equal(3, NodeLine().Matches(listed).Count(m => m.Groups["state"].Value == "live"));
        var storage1 = NodeLine().Matches(listed).Single(m => m.Groups["node"].Value == "storage-1");
        Assert.True(long.Parse(storage1.Groups["chunks"].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, listed);

        // Act: drain storage-1.
        var drain = await NodesAsync(app, "drain", "storage-1");
        Assert.Matches(@"storage-1\tdrain(ing|ed)\t", drain);

        // Assert: it becomes drained (every chunk it holds has two copies elsewhere) with nothing under-replicated.
        var last = string.Empty;
        await StandaloneNodes.WaitUntilAsync(async () =>
        {
            last = await NodesAsync(app, "list");
            return Regex.IsMatch(last, @"^storage-1\tdrained\t", RegexOptions.Multiline) && last.Contains("under-replicated: 0 ", StringComparison.Ordinal);
        }, Bounded, () => last);
        _output.WriteLine(last);

        // New chunks skip the drained node.
        var storedBefore = await StoredOnAsync(app, 1);
        var second = RandomNumberGenerator.GetBytes(4 << 20);
        await File.WriteAllBytesAsync(Path.Combine(alpha.Folder, "second.bin"), second);
        using (var up = StandaloneNodes.StartClient(alpha.State, "sync", "--once"))
        {
            await StandaloneNodes.ExpectSuccessAsync(up, "sync");
        }

        Assert.Equal(storedBefore, await StoredOnAsync(app, 1));

        // Removed (killed): a new client still gets every byte from the two other nodes.
        app.KillStorageNode(0);
        var beta = await app.LoginAsync("beta");
        using (var down = StandaloneNodes.StartClient(beta.State, "sync", "--once"))
        {
            await StandaloneNodes.ExpectSuccessAsync(down, "sync");
        }

        Assert.Equal(first, await File.ReadAllBytesAsync(Path.Combine(beta.Folder, "first.bin")));
        Assert.Equal(second, await File.ReadAllBytesAsync(Path.Combine(beta.Folder, "second.bin")));
    }

    [Fact]
    public async Task Draining_an_unknown_node_is_refused_with_its_name()
    {
        using var app = await StandaloneNodes.StartAsync(_dir, nodes: 2, replicas: 2, deadAfterSeconds: 5);
        using var verb = ChildProcess.Start(Binaries.MetadataNode, ["nodes", "drain", "storage-9", "--server", app.Url, "--token", app.Token]);
        Assert.NotEqual(0, await verb.WaitForExitAsync(Bounded));
        Assert.Contains("storage-9", verb.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, NodeLine().Matches(await NodesAsync(app, "list")).Count(m => m.Groups["state"].Value == "live"));
    }

    private static async Task<double> StoredOnAsync(StandaloneNodes app, int metricsIndex)
    {
        using var http = new HttpClient();
        return (await Observability.PrometheusText.ScrapeAsync(http, app.MetricsUrls[metricsIndex])).Single("dropbox_storage_chunks_stored_total");
    }

    private static async Task<string> NodesAsync(StandaloneNodes app, params string[] args)
    {
        using var verb = ChildProcess.Start(Binaries.MetadataNode, ["nodes", .. args, "--server", app.Url, "--token", app.Token]);
        var code = await verb.WaitForExitAsync(Bounded);
        Assert.True(code == 0, $"nodes {string.Join(' ', args)} exited {code}: {verb.Stdout}{verb.Stderr}");
        return verb.Stdout;
    }

    [GeneratedRegex(@"^(?<node>storage-\d+)\t(?<state>\w+)\t(?<used>\d+)\t(?<free>\d+)\t(?<chunks>\d+)\t(?<under>\d+)\t", RegexOptions.Multiline)]
    private static partial Regex NodeLine();
}
