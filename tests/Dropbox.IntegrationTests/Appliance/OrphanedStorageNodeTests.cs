using System.Diagnostics;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary><c>standalone --storage-nodes 2</c> as a real process, SIGKILLed: its storage-node children do not outlive it.</summary>
[Trait("Category", "Slow")]
public sealed class OrphanedStorageNodeTests : IDisposable
{
    private static readonly TimeSpan ExitBound = TimeSpan.FromSeconds(45);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Storage_node_children_exit_when_the_appliance_is_killed_with_sigkill()
    {
        using var app = await StandaloneNodes.StartAsync(_dir, nodes: 2, replicas: 1, deadAfterSeconds: 600);
        Assert.Equal(2, app.StorageNodes.Count);
        var children = app.StorageNodes.Select(n => Process.GetProcessById(n.Pid)).ToList();
        try
        {
            // SIGKILL to the appliance alone (not its process tree): nothing of it runs to stop the children.
            app.Process.Signal(9);
            Assert.True(await app.Process.WaitForExitAsync(TimeSpan.FromSeconds(10)) != 0, "the appliance survived SIGKILL");

            using var bound = new CancellationTokenSource(ExitBound);
            foreach (var child in children)
            {
                try
                {
                    await child.WaitForExitAsync(bound.Token);
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"storage node pid {child.Id} still runs {ExitBound.TotalSeconds:0} s after its appliance was SIGKILLed (orphaned)");
                }
            }
        }
        finally
        {
            foreach (var child in children)
            {
                if (!child.HasExited)
                {
                    child.Kill();
                }

                child.Dispose();
            }
        }
    }
}
