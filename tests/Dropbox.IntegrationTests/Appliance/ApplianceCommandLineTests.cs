using Xunit;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>The appliance is its own program; the metadata node points whoever still asks it for <c>standalone</c> there.</summary>
public sealed class ApplianceCommandLineTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_metadata_node_refuses_standalone_naming_the_appliance_and_creates_nothing()
    {
        var data = _dir.Sub("never");
        using var node = ChildProcess.Start(Binaries.MetadataNode, ["standalone", "--data", data, "--port", "0"]);

        Assert.Equal(2, await node.WaitForExitAsync(Timeout));
        Assert.Contains("src/Appliance", node.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(data));
    }

    [Fact]
    public async Task The_appliance_prints_its_usage_and_refuses_an_unknown_argument()
    {
        using var help = ChildProcess.Start(Binaries.Appliance, ["--help"]);
        Assert.Equal(0, await help.WaitForExitAsync(Timeout));
        Assert.Contains("Dropbox.Appliance [standalone]", help.Stdout, StringComparison.Ordinal);

        using var bad = ChildProcess.Start(Binaries.Appliance, ["standalone", "stray"]);
        Assert.Equal(2, await bad.WaitForExitAsync(Timeout));
        Assert.Contains("Unexpected argument 'stray'", bad.Stderr, StringComparison.Ordinal);
    }
}
