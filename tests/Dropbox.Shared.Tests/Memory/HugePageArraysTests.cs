using System.Runtime.InteropServices;
using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Tests.Memory;

/// <summary>Tests that ask for huge pages, and the one that counts the asking: one at a time (<see cref="HugePageAdvice"/>).</summary>
[Collection(HugePageAdvice.Name)]
public sealed class HugePageArraysTests
{
    [Fact]
    public void A_large_array_asked_to_be_is_advised_for_huge_pages_from_its_first_byte_to_its_last()
    {
        var array = HugePageArrays.AllocatePinned(8 * HugePageArrays.HugePageSize, advise: true);
        var (start, length) = HugePageArrays.EnclosingSpan(array);

        Assert.Equal(8 * HugePageArrays.HugePageSize, array.Length);
        Assert.Equal(0, start % HugePageArrays.HugePageSize);
        Assert.InRange((long)length, 8L * HugePageArrays.HugePageSize, 9L * HugePageArrays.HugePageSize);
        if (ProcMaps.HasTransparentHugePages)
        {
            // Without the advice no byte's mapping has it; the first and last lie in partial huge pages (unless the
            // array happens to start on a boundary).
            Assert.True(ProcMaps.IsAdvisedForHugePages(Marshal.UnsafeAddrOfPinnedArrayElement(array, 0)), ProcMaps.VmFlagsAt(Marshal.UnsafeAddrOfPinnedArrayElement(array, 0)));
            Assert.True(ProcMaps.IsAdvisedForHugePages(Marshal.UnsafeAddrOfPinnedArrayElement(array, array.Length / 2)));
            Assert.True(ProcMaps.IsAdvisedForHugePages(Marshal.UnsafeAddrOfPinnedArrayElement(array, array.Length - 1)));
        }

        GC.KeepAlive(array);
    }

    [Theory]
    [InlineData("on", true)]
    [InlineData("ON", true)]
    [InlineData(" on ", true)]
    [InlineData("off", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("yes", false)]
    [InlineData("1", false)]
    public void Only_on_turns_the_advice_on(string? value, bool advise) => Assert.Equal(advise, HugePageArrays.ParseSetting(value));

    [Fact]
    public void Without_the_variable_arrays_are_not_advised_by_default()
    {
        // Off unless asked since stop 56: on this project's machine fresh huge pages cost more to fill than 4 KiB pages.
        var value = Environment.GetEnvironmentVariable(HugePageArrays.Variable);
        Assert.Equal(HugePageArrays.ParseSetting(value), HugePageArrays.AdviseByDefault);
        if (value is null)
        {
            Assert.False(HugePageArrays.AdviseByDefault);

            // Not the flag alone: the allocations that take the default ask the kernel nothing (review s56: a caller that
            // ignored the default passed a check of the flag).
            var pool = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 2);
            var before = HugePageArrays.AdviceCalls;
            var array = HugePageArrays.AllocatePinned(16 * HugePageArrays.HugePageSize);
            var rented = pool.Rent(16 * HugePageArrays.HugePageSize);
            Assert.Equal(before, HugePageArrays.AdviceCalls);
            Assert.False(pool.AdvisesHugePages);

            // ... and asking does count, so the check above can fail.
            HugePageArrays.AllocatePinned(4 * HugePageArrays.HugePageSize, advise: true);
            if (ProcMaps.HasTransparentHugePages)
            {
                Assert.Equal(before + 1, HugePageArrays.AdviceCalls);
            }

            GC.KeepAlive(array);
            pool.Return(rented);
        }
    }
}

/// <summary>The test collection of everything that asks for huge pages in this test process (run one at a time).</summary>
[CollectionDefinition(HugePageAdvice.Name)]
public sealed class HugePageAdvice
{
    public const string Name = "huge-page advice";
}
