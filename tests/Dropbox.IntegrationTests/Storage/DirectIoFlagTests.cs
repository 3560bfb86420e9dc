namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// <c>--direct-io on|off</c> as real processes: the storage node and the appliance refuse any other word (exit code 2,
/// the message naming the flag, nothing created).
/// </summary>
[Trait("Category", "Slow")]
public sealed class DirectIoFlagTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
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
}
