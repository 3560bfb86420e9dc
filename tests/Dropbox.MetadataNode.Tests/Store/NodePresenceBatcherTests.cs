using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// The shared HasChunks calls are bounded: a caller that finds the next call full, or asks for more than one call
/// carries, asks on its own; every caller is answered even when the call fails and logging it throws.
/// </summary>
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

    [Fact]
    public async Task A_caller_asking_for_more_ids_than_a_call_carries_never_holds_up_a_small_callers_call()
    {
        // Arrange: calls carry at most two ids; the node holds c1 and c4; the first call made is held in flight.
        var gateway = new FakeGateway();
        var batcher = new NodePresenceBatcher(gateway, NullLogger.Instance, maxIds: 2);
        var node = new StorageNodeInfo { NodeId = "node-a", GrpcUrl = "http://127.0.0.1:1" };
        var (c1, c2, c3, c4) = (StoreHarness.Chunk(1).Id, StoreHarness.Chunk(2).Id, StoreHarness.Chunk(3).Id, StoreHarness.Chunk(4).Id);
        gateway.Put("node-a", c1);
        gateway.Put("node-a", c4);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gateway.AfterHas = () =>
        {
            gateway.AfterHas = null;
            return release.Task;
        };

        // Act: a big commit's three ids reach the idle node first and its call is held; a small commit asks meanwhile.
        var big = batcher.HasChunksAsync(node, [c1, c2, c3], CancellationToken.None);
        var small = batcher.HasChunksAsync(node, [c4], CancellationToken.None);
        Assert.Equal(2, gateway.HasCalls);
        var smallAnswer = await small.WaitAsync(HangBound);
        release.SetResult();
        var bigAnswer = await big.WaitAsync(HangBound);

        // Assert: the small caller's call went out at once (counted above), not behind the big one, and was answered
        // while the big one was out.
        Assert.Equal(0, batcher.Joined);
        Assert.Equal([true], smallAnswer);
        Assert.Equal([true, false, false], bigAnswer);
        Assert.Equal(2, gateway.HasCalls);
    }

    [Fact]
    public async Task A_failing_call_whose_logging_throws_still_answers_its_callers_and_sends_the_next_call()
    {
        // Arrange: the log sink throws; the node holds c2; its first call is held in flight, then fails.
        var gateway = new FakeGateway();
        var batcher = new NodePresenceBatcher(gateway, new ThrowingLogger(), maxIds: 2);
        var node = new StorageNodeInfo { NodeId = "node-a", GrpcUrl = "http://127.0.0.1:1" };
        var (c1, c2, c3) = (StoreHarness.Chunk(1).Id, StoreHarness.Chunk(2).Id, StoreHarness.Chunk(3).Id);
        gateway.Put("node-a", c2);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gateway.AfterHas = async () =>
        {
            gateway.AfterHas = null;
            await release.Task;
            throw new HttpRequestException("node a is down");
        };

        // Act: one caller's call is out, a second joins the next call; the first fails; later a third asks.
        var first = batcher.HasChunksAsync(node, [c1], CancellationToken.None);
        var second = batcher.HasChunksAsync(node, [c2], CancellationToken.None);
        release.SetResult();
        var firstAnswer = await first.WaitAsync(HangBound);
        var secondAnswer = await second.WaitAsync(HangBound);
        var thirdAnswer = await batcher.HasChunksAsync(node, [c2, c3], CancellationToken.None).WaitAsync(HangBound);

        // Assert: the failed call answered "not held", the joined caller's call was sent and answered, and the node
        // was not left marked busy (the third caller's call was made and answered, not queued behind nothing).
        Assert.Equal([false], firstAnswer);
        Assert.Equal([true], secondAnswer);
        Assert.Equal([true, false], thirdAnswer);
        Assert.Equal(3, gateway.HasCalls);
        Assert.Equal(1, batcher.Joined);
    }
}
