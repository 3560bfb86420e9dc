using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Services;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Services;

public sealed class PendingPutsTests
{
    [Fact]
    public void Empty_and_tiny_puts_are_charged_the_minimum_so_a_call_of_them_reaches_the_in_flight_limit()
    {
        var pending = new PendingPuts();
        var limit = StoreLimits.MaxInFlightBytesPerCall;
        var most = (int)(limit / StoreLimits.MinInFlightChargePerPut);

        // A call streaming empty chunks: with bytes alone the total stays 0 and every put would start at once.
        for (var i = 0; i < most; i++)
        {
            pending.Add(ChunkId.Compute([(byte)i, (byte)(i >> 8)]), null, i % 3, Task.CompletedTask);
            Assert.True(pending.Bytes <= limit, $"{i + 1} puts charged {pending.Bytes}");
        }

        pending.Add(ChunkId.Compute([1, 2, 3]), null, 0, Task.CompletedTask);
        Assert.True(pending.Bytes > limit, $"{most + 1} tiny puts charged only {pending.Bytes}: the limit would not hold them back");
    }

    [Fact]
    public void A_put_at_least_the_minimum_is_charged_its_bytes_and_removing_gives_back_what_was_charged()
    {
        var pending = new PendingPuts();
        pending.Add(ChunkId.Compute([1]), null, 1_000_000, Task.CompletedTask);
        pending.Add(ChunkId.Compute([2]), null, 10, Task.CompletedTask);
        Assert.Equal(1_000_000 + StoreLimits.MinInFlightChargePerPut, pending.Bytes);

        pending.RemoveFirst();
        Assert.Equal(StoreLimits.MinInFlightChargePerPut, pending.Bytes);
        pending.RemoveFirst();
        Assert.Equal(0, pending.Bytes);
        Assert.Empty(pending.Items);
    }
}
