using System.Runtime.InteropServices;
using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Tests.Memory;

public sealed class PinnedArrayPoolTests
{
    private const int Large = 16 * 1024 * 1024;

    [Fact]
    public void A_large_array_is_pinned_a_power_of_two_and_reused_once_returned()
    {
        var pool = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2);

        var first = pool.Rent(Large - 5);
        Assert.Equal(Large, first.Length);
        Assert.True(IsPinned(first));
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
    public void Small_arrays_come_from_the_inner_pool_and_are_not_taken_for_large_ones()
    {
        var pool = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2);

        var small = pool.Rent(1000);
        Assert.InRange(small.Length, 1000, PinnedArrayPool.SmallLimit);
        pool.Return(small);

        Assert.Same(small, pool.Rent(1000));
        Assert.True(pool.Rent(PinnedArrayPool.SmallLimit + 1).Length > PinnedArrayPool.SmallLimit);
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

    private static bool IsPinned(byte[] array)
    {
        var before = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return before == Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
    }
}
