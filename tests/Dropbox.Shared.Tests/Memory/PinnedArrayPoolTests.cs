using System.Runtime.InteropServices;
using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Tests.Memory;

[Collection(HugePageAdvice.Name)]
public sealed class PinnedArrayPoolTests
{
    private const int Large = 16 * 1024 * 1024;

    [Fact]
    public void A_large_array_is_pinned_a_power_of_two_and_reused_once_returned()
    {
        var pool = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2, adviseHugePages: true);

        var first = pool.Rent(Large - 5);
        Assert.Equal(Large, first.Length);
        if (ProcMaps.HasTransparentHugePages)
        {
            // A pinned array of the huge-page allocator (an ordinary one's mapping carries no advice).
            Assert.True(ProcMaps.IsAdvisedForHugePages(Marshal.UnsafeAddrOfPinnedArrayElement(first, Large / 2)));
        }

        pool.Return(first);

        Assert.Same(first, pool.Rent(Large));
        Assert.NotSame(first, pool.Rent(Large));
    }

    [Fact]
    public void It_keeps_no_more_than_its_bound_per_size()
    {
        var pool = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2);
        var rented = Enumerable.Range(0, 3).Select(_ => pool.Rent(Large)).ToList();
        rented.ForEach(a => pool.Return(a));

        var again = Enumerable.Range(0, 3).Select(_ => pool.Rent(Large)).ToList();

        Assert.Equal(2, again.Count(a => rented.Any(r => ReferenceEquals(r, a))));
    }

    [Fact]
    public void Arrays_up_to_the_small_limit_go_back_to_the_inner_pool_and_larger_ones_to_the_pool_s_own_buckets()
    {
        var pool = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2);

        var small = pool.Rent(1000);
        Assert.InRange(small.Length, 1000, PinnedArrayPool.SmallLimit);
        pool.Return(small);
        Assert.Same(small, pool.Rent(1000));

        // Exactly at the limit: the inner pool's, rented and returned there.
        var atLimit = pool.Rent(PinnedArrayPool.SmallLimit);
        Assert.Equal(PinnedArrayPool.SmallLimit, atLimit.Length);
        pool.Return(atLimit);
        Assert.Same(atLimit, pool.Rent(PinnedArrayPool.SmallLimit));

        // One byte more: the pool's own bucket of twice the size.
        var above = pool.Rent(PinnedArrayPool.SmallLimit + 1);
        Assert.Equal(2 * PinnedArrayPool.SmallLimit, above.Length);
        pool.Return(above);
        Assert.Same(above, pool.Rent((2 * PinnedArrayPool.SmallLimit) - 1));
    }

    [Fact]
    public void A_largest_size_above_the_largest_power_of_two_an_int_holds_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PinnedArrayPool(maxArrayLength: int.MaxValue, maxArraysPerBucket: 1));
    }

    [Fact]
    public void Returning_with_clear_clears_and_a_foreign_array_is_dropped()
    {
        var pool = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2);
        var array = pool.Rent(Large);
        array.AsSpan().Fill(7);
        pool.Return(array, clearArray: true);
        Assert.DoesNotContain(pool.Rent(Large), b => b != 0);

        var odd = new byte[Large + 1];
        pool.Return(odd);
        Assert.NotSame(odd, pool.Rent(Large + 1));
    }

    [Fact]
    public void A_request_over_the_largest_size_gets_a_fresh_array_and_a_negative_one_is_refused()
    {
        var pool = new PinnedArrayPool(maxArrayLength: Large, maxArraysPerBucket: 2);

        Assert.Equal(Large + 1, pool.Rent(Large + 1).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(-1));
    }

    [Fact]
    public void With_a_small_limit_of_zero_every_array_is_the_pool_s_own_and_pinned()
    {
        var pool = new PinnedArrayPool(maxArrayLength: 1 << 26, maxArraysPerBucket: 2, smallLimit: 0);

        var small = pool.Rent(1000);

        // The pinned object heap counts as the oldest generation from the start; an ordinary fresh array is in gen 0.
        Assert.Equal(1024, small.Length);
        Assert.Equal(GC.MaxGeneration, GC.GetGeneration(small));
        Assert.Equal(0, GC.GetGeneration(new byte[1024]));
        pool.Return(small);
        Assert.Same(small, pool.Rent(1000));
        Assert.Empty(pool.Rent(0));
    }
}
