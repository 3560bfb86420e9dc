namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// Review probes (stop 56, s56-dio): <c>--direct-io</c> given without its value, as real processes. The README says a
/// value other than on or off is refused with exit code 2, and the appliance refuses a missing value so.
/// </summary>
[Trait("Category", "Slow")]
public sealed class DirectIoFlagProbeTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Probe_the_storage_node_refuses_direct_io_without_a_value_with_exit_code_2_and_a_message()
    {
        using var node = ChildProcess.Start(Binaries.StorageNode, ["--data", _dir.Sub("node"), "--keys", _dir.CreateSub("keys"), "--urls", "http://127.0.0.1:0", "--direct-io"]);

        var code = await node.WaitForExitAsync(Timeout);

        Assert.True(code == 2 && !node.Stderr.Contains("Unhandled exception", StringComparison.Ordinal),
            $"exit code {code}\nstderr:\n{node.Stderr}");
        Assert.Contains("--direct-io", node.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_the_appliance_refuses_direct_io_without_a_value_with_exit_code_2_and_a_message()
    {
        using var app = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", _dir.Sub("appliance"), "--port", "0", "--direct-io"]);

        var code = await app.WaitForExitAsync(Timeout);

        Assert.True(code == 2, $"exit code {code}\nstderr:\n{app.Stderr}");
        Assert.Contains("--direct-io needs a value", app.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Sub("appliance")));
    }
}
