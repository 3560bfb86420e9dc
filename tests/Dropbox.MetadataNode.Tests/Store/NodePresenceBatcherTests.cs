using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>The shared HasChunks calls are bounded: a caller that finds the next call full asks on its own.</summary>
public sealed class NodePresenceBatcherTests
{
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_caller_finding_the_next_call_full_is_answered_by_a_call_of_its_own_without_waiting_for_the_one_in_flight()
    {
        // Arrange: calls carry at most two ids; the node holds c2 and c4; the first call is held in flight.
        var gateway = new FakeGateway();
        var batcher = new NodePresenceBatcher(gateway, NullLogger.Instance, maxIds: 2);
        var node = new StorageNodeInfo { NodeId = "node-a", GrpcUrl = "http://127.0.0.1:1" };
        var (c1, c2, c3, c4) = (StoreHarness.Chunk(1).Id, StoreHarness.Chunk(2).Id, StoreHarness.Chunk(3).Id, StoreHarness.Chunk(4).Id);
        gateway.Put("node-a", c2);
        gateway.Put("node-a", c4);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gateway.AfterHas = () =>
        {
            gateway.AfterHas = null;
            return release.Task;
        };

        // Act: one caller's call is out; two more fill the next call; a fourth finds it full.
        var first = batcher.HasChunksAsync(node, [c1], CancellationToken.None);
        var second = batcher.HasChunksAsync(node, [c2], CancellationToken.None);
        var third = batcher.HasChunksAsync(node, [c3], CancellationToken.None);
        var fourth = await batcher.HasChunksAsync(node, [c4], CancellationToken.None).WaitAsync(HangBound);
        var callsBeforeRelease = gateway.HasCalls;
        release.SetResult();
        var answers = await Task.WhenAll(first, second, third).WaitAsync(HangBound);

        // Assert: the fourth was answered while the first call was still out; the two that shared a call got theirs.
        Assert.Equal([true], fourth);
        Assert.Equal(2, callsBeforeRelease);
        Assert.Equal(3, gateway.HasCalls);
        Assert.Equal([[false], [true], [false]], answers);
        Assert.Equal(2, batcher.Joined);
    }
}
