using System.Text.Json;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The executables ship with dynamic PGO off (src/ReadyToRun.props): with it, every precompiled method that ran hot was
/// compiled twice more, which profiles showed as most of the appliance's CPU in a one-byte re-sync. The build copies each
/// referenced executable's runtimeconfig.json next to the tests.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Theory]
    [InlineData("Dropbox.SyncClient")]
    [InlineData("Dropbox.StorageNode")]
    [InlineData("Dropbox.MetadataNode")]
    public void Each_executable_turns_dynamic_pgo_off(string executable)
    {
        var path = Path.Combine(AppContext.BaseDirectory, executable + ".runtimeconfig.json");
        Assert.True(File.Exists(path), $"{path} is missing: the test expects the build to copy it.");

        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.True(properties.TryGetProperty("System.Runtime.TieredPGO", out var pgo), $"{executable} does not set System.Runtime.TieredPGO.");
        Assert.False(pgo.GetBoolean());
    }
}
