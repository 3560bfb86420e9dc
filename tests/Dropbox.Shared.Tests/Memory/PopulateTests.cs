using System.Runtime.InteropServices;
using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Tests.Memory;

/// <summary>
/// <see cref="HugePageArrays.Populate"/> has the kernel fault a buffer's pages in ahead of use (one call instead of a trap
/// per page): the pages are resident afterwards, and what the buffer held is unchanged. Residency is read with mincore(2).
/// </summary>
[Collection(HugePageAdvice.Name)]
public sealed partial class PopulateTests
{
    private const int Length = 64 * 1024 * 1024;

    [Fact]
    public void A_fresh_buffer_is_resident_after_it_is_populated_and_keeps_its_bytes()
    {
        var array = HugePageArrays.AllocatePinned(Length, advise: false);
        array[0] = 0x5A;
        array[Length / 2] = 0xA5;
        array[Length - 1] = 0x3C;
        var untouchedBefore = NotResident(array, Length);

        HugePageArrays.Populate(array, Length);

        // A fresh 64 MiB array is mostly not yet backed (the three bytes written above touched three pages), so the test
        // can tell a populate from none.
        Assert.True(untouchedBefore > 1000, $"only {untouchedBefore} pages of the fresh array were not resident");
        Assert.Equal(0, NotResident(array, Length));
        Assert.Equal(0x5A, array[0]);
        Assert.Equal(0xA5, array[Length / 2]);
        Assert.Equal(0x3C, array[Length - 1]);
        GC.KeepAlive(array);
    }

    [Fact]
    public void Only_the_length_asked_for_is_populated()
    {
        var array = HugePageArrays.AllocatePinned(Length, advise: false);

        HugePageArrays.Populate(array, Length / 4);

        Assert.Equal(0, NotResident(array, Length / 4 - Environment.SystemPageSize)); // the last page may be partial
        Assert.True(NotResident(array, Length) > Length / 2 / Environment.SystemPageSize, "pages past the length asked for were populated");
        GC.KeepAlive(array);
    }

    [Fact]
    public void A_pool_asked_to_populates_the_arrays_it_allocates_and_one_not_asked_does_not()
    {
        var populating = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2, adviseHugePages: false, populate: true);
        var plain = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2, adviseHugePages: false);

        var populated = populating.Rent(Length - 4096);
        var left = plain.Rent(Length - 4096);

        Assert.Equal(1, populating.PopulatedArrays);
        Assert.Equal(0, plain.PopulatedArrays);
        Assert.Equal(0, NotResident(populated, Length - 8192));

        // An array the pool hands out again was filled by its first user: it is not asked again.
        populating.Return(populated);
        var again = populating.Rent(Length - 4096);
        Assert.Same(populated, again);
        Assert.Equal(1, populating.PopulatedArrays);

        // Small arrays come from the inner pool, never populated.
        populating.Return(populating.Rent(4096));
        Assert.Equal(1, populating.PopulatedArrays);
        populating.Return(again);
        plain.Return(left);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4097)]
    public void A_length_outside_the_array_is_refused(int length)
    {
        var array = HugePageArrays.AllocatePinned(4096, advise: false);
        Assert.Throws<ArgumentOutOfRangeException>(() => HugePageArrays.Populate(array, length));
    }

    [Fact]
    public void An_array_smaller_than_a_page_is_left_alone()
    {
        var array = HugePageArrays.AllocatePinned(100, advise: false);
        array[99] = 7;
        HugePageArrays.Populate(array, 100); // no whole page inside it: nothing asked
        Assert.Equal(7, array[99]);
    }

    /// <summary>Pages of the whole pages within the first <paramref name="length"/> bytes that are not resident.</summary>
    private static int NotResident(byte[] array, int length)
    {
        var (start, span) = HugePageArrays.WholePages(array, length);
        var pages = (int)(span / Environment.SystemPageSize);
        var vector = new byte[Math.Max(1, pages)];
        Assert.Equal(0, Mincore(start, (nuint)span, vector));
        return vector.Take(pages).Count(v => (v & 1) == 0);
    }

    [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static partial int Mincore(nint address, nuint length, [Out] byte[] vector);
}
