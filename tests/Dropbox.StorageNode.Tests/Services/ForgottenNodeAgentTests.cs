using Dropbox.StorageNode.Cluster;
using Dropbox.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>A storage node the metadata node forgot ('nodes forget') stops registering and reporting instead of retrying forever.</summary>
public sealed class ForgottenNodeAgentTests
{
    [Fact]
    public async Task A_forgotten_node_whose_heartbeat_gets_not_found_tries_to_register_once_is_refused_and_stops_its_agent()
    {
        using var dir = new TempFolder();
        var port = QuietPorts.Next();
        await using var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}" }, dir);
        await using var metadata = await FakeMetadataNode.StartAsync(port, node.Options.KeysDirectory);
        var agent = node.Services.GetRequiredService<ClusterAgent>();
        await WaitUntilAsync(() => !metadata.Registrations.IsEmpty, "registration");

        metadata.Forgotten = true;
        await WaitUntilAsync(() => agent.Retired && agent.ExecuteTask is { IsCompleted: true }, "the agent to stop");

        var registrations = metadata.Registrations.Count;
        Assert.InRange(registrations, 2, 3); // the first, then the one refused (one more if it raced the flag)
        Assert.True(agent.ExecuteTask!.IsCompletedSuccessfully);
        await node.PutRawAsync(TestChunks.Random(30_000, 700)); // the node still serves
        Assert.Equal(registrations, metadata.Registrations.Count);
    }

    [Fact]
    public async Task A_registration_refused_with_another_failed_precondition_is_retried_with_back_off_and_the_agent_keeps_running()
    {
        using var dir = new TempFolder();
        var port = QuietPorts.Next();
        await using var metadata = await FakeMetadataNode.StartAsync(port, dir.CreateSub("keys")); // the node's key ring
        metadata.RefuseRegistration = true;
        await using var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}", MaxRetryDelay = TimeSpan.FromMilliseconds(400) }, dir);
        var agent = node.Services.GetRequiredService<ClusterAgent>();

        await WaitUntilAsync(() => metadata.Registrations.Count >= 3, "registration to be retried");
        Assert.False(agent.Retired);
        metadata.RefuseRegistration = false;
        await WaitUntilAsync(() => Volatile.Read(ref metadata.HeartbeatCalls) > 0, "registration, then a heartbeat");

        Assert.False(agent.Retired);
        Assert.False(agent.ExecuteTask!.IsCompleted);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(20);
        }
    }
}
