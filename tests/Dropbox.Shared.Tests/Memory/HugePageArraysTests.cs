using System.Runtime.InteropServices;
using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Tests.Memory;

public sealed class HugePageArraysTests
{
    [Fact]
    public void A_large_array_is_advised_for_huge_pages_from_its_first_byte_to_its_last()
    {
        var array = HugePageArrays.AllocatePinned(8 * HugePageArrays.HugePageSize);
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
}
