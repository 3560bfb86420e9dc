using System.Globalization;
using System.Runtime.InteropServices;
using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Tests.Memory;

public sealed class HugePageArraysTests
{
    [Fact]
    public void A_large_array_is_advised_for_huge_pages_from_its_first_byte_to_its_last()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Equal(4096, HugePageArrays.AllocatePinned(4096).Length);
            return;
        }

        var array = HugePageArrays.AllocatePinned(8 * HugePageArrays.HugePageSize);
        var (start, length) = HugePageArrays.EnclosingSpan(array);

        Assert.Equal(8 * HugePageArrays.HugePageSize, array.Length);
        Assert.Equal(0, start % HugePageArrays.HugePageSize);
        Assert.InRange((long)length, 8L * HugePageArrays.HugePageSize, 9L * HugePageArrays.HugePageSize);
        if (File.Exists("/sys/kernel/mm/transparent_hugepage/enabled"))
        {
            // "hg": the mapping holding the byte is advised for huge pages (VM_HUGEPAGE); without the advice it is not.
            // The first and last bytes lie in partial huge pages (unless the array happens to start on a boundary).
            Assert.Contains("hg", VmFlagsAt(Marshal.UnsafeAddrOfPinnedArrayElement(array, 0)).Split(' '));
            Assert.Contains("hg", VmFlagsAt(Marshal.UnsafeAddrOfPinnedArrayElement(array, array.Length / 2)).Split(' '));
            Assert.Contains("hg", VmFlagsAt(Marshal.UnsafeAddrOfPinnedArrayElement(array, array.Length - 1)).Split(' '));
        }

        GC.KeepAlive(array);
    }

    /// <summary>The VmFlags line of the mapping in /proc/self/smaps that holds <paramref name="address"/>.</summary>
    private static string VmFlagsAt(nint address)
    {
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var from)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var to))
            {
                inside = (ulong)address >= from && (ulong)address < to;
            }
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
            {
                return line["VmFlags:".Length..].Trim();
            }
        }

        throw new InvalidOperationException($"No mapping in /proc/self/smaps holds 0x{address:x}.");
    }
}
