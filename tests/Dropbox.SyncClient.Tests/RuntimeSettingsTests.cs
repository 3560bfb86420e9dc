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

    /// <summary>
    /// The storage node (and the appliance, which hosts one) lets idle thread-pool workers block at once: spinning before
    /// blocking was about 13% of the appliance's CPU in a 256 MiB first upload on a loaded 2-core machine.
    /// </summary>
    [Fact]
    public void The_storage_node_thread_pool_workers_do_not_spin_before_blocking()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Dropbox.StorageNode.runtimeconfig.json");
        Assert.True(File.Exists(path), $"{path} is missing: the test expects the build to copy it.");

        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.True(properties.TryGetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", out var spin), "The storage node does not set System.Threading.ThreadPool.UnfairSemaphoreSpinLimit.");
        Assert.Equal(0, spin.GetInt32());
    }
}
