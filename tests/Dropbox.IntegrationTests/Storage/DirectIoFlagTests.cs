using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// <c>--direct-io on|off</c> as real processes: the storage node and the appliance refuse any other word (exit code 2,
/// the message naming the flag, nothing created), and the appliance passes <c>off</c> to its storage node, in-process
/// and as child processes: each node's engine says at open that direct reads and writes are off (event 2016).
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class DirectIoFlagTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private const int SigTerm = 15;
    private const string Refusal = "error: --direct-io takes on or off (";
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_storage_node_and_the_appliance_refuse_a_direct_io_value_other_than_on_or_off_and_create_nothing()
    {
        var data = _dir.Sub("node");
        using (var node = ChildProcess.Start(Binaries.StorageNode, ["--data", data, "--keys", _dir.CreateSub("keys"), "--urls", "http://127.0.0.1:0", "--direct-io", "maybe"]))
        {
            Assert.Equal(2, await node.WaitForExitAsync(Timeout));
            Assert.Contains(Refusal, node.Stderr, StringComparison.Ordinal);
            Assert.Contains("got 'maybe'", node.Stderr, StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(data));

        var appliance = _dir.Sub("appliance");
        using (var app = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", appliance, "--port", "0", "--direct-io", "maybe"]))
        {
            Assert.Equal(2, await app.WaitForExitAsync(Timeout));
            Assert.Contains(Refusal, app.Stderr, StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(appliance));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task The_appliance_passes_direct_io_off_to_its_storage_nodes(int storageNodes)
    {
        using var app = ChildProcess.Start(Binaries.Appliance,
            ["standalone", "--data", _dir.Sub("appliance"), "--port", "0", "--storage-nodes", $"{storageNodes}", "--replicas", "1", "--direct-io", "off"]);
        await app.WaitForOutputAsync(ReadyLine(), Timeout);

        // One line per node (in-process: the appliance's own; children: marked with the node), none saying direct I/O is unavailable.
        var lines = DirectIoOffLine().Matches(app.Stdout).Select(m => m.Value.Trim()).ToList();
        string[] expected = storageNodes == 1 ? [string.Empty] : ["[storage-1] ", "[storage-2] "];
        Assert.True(lines.Count == expected.Length, $"{lines.Count} lines say direct I/O is off, not {expected.Length}:\n{app.Stdout}");
        foreach (var prefix in expected)
        {
            Assert.Contains(lines, l => l.StartsWith(prefix, StringComparison.Ordinal) && (prefix.Length > 0 || !l.StartsWith('[')));
        }

        Assert.DoesNotContain("ChunkEngine[2017]", app.Stdout, StringComparison.Ordinal);
        app.Signal(SigTerm);
        var code = await app.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"the appliance exited {code}\nstdout:\n{app.Stdout}\nstderr:\n{app.Stderr}");
    }

    [GeneratedRegex(@"^ready: (http://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"^[^\n]*Dropbox\.StorageNode\.Engine\.ChunkEngine\[2016\] Direct reads and writes are off by configuration \(--direct-io off\)[^\n]*$", RegexOptions.Multiline)]
    private static partial Regex DirectIoOffLine();
}
