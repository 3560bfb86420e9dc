using System.Runtime.InteropServices;

namespace Dropbox.Shared.Memory;

/// <summary>
/// Large pinned byte arrays whose memory the kernel may back with transparent huge pages (2 MiB) instead of 4 KiB
/// pages, when asked: by default only where <c>DROPBOX_HUGE_PAGES=on</c> (<see cref="AdviseByDefault"/>). A fresh
/// buffer costs one page fault per 4 KiB page on first touch; a huge page is one fault, but the kernel zeroes all of it
/// at once from its free 2 MiB blocks. Which is cheaper depends on the machine. On the virtual machine of stop 40 a
/// 4 KiB fault cost 7-17 µs and the advice saved a 1 GiB upload's client 0.26 s. On stop 56's (a balloon device that
/// hands free 2 MiB blocks back to the host, so each fresh huge page is backed anew by the host while it is zeroed),
/// zeroing the client's ~140 MiB of fresh huge pages was 19% of its samples (3.3 ms per MiB), against 0.5% for the same
/// memory in 4 KiB pages: in 13 alternating runs without the advice the client used 0.14-0.67 s less CPU. Hence off
/// unless asked. Where transparent huge pages are off, set to <c>never</c>, or not Linux, the advice does nothing.
/// </summary>
/// <remarks>
/// Only for buffers that their use fills whole (the client's read blocks, a storage node's staging buffer): the kernel's
/// background collapse (khugepaged) may make a whole advised huge page resident once any of its 4 KiB pages is touched,
/// so a buffer mostly left untouched (a connection's receive block holding a partial request) would cost its full size
/// in memory instead of the pages used.
/// </remarks>
public static partial class HugePageArrays
{
    /// <summary>Size of a transparent huge page on x86-64 and (with 4 KiB base pages) arm64.</summary>
    public const int HugePageSize = 2 * 1024 * 1024;

    /// <summary>Arrays from this size on are advised when asked; smaller ones are ordinary pinned arrays.</summary>
    public const int MinAdvisedLength = HugePageSize;

    // MADV_HUGEPAGE from <sys/mman.h>: the same value on every Linux architecture.
    private const int MadvHugePage = 14;

    // MADV_POPULATE_WRITE (Linux 5.14): fault the range in, writable, now; older kernels answer EINVAL.
    private const int MadvPopulateWrite = 23;

    /// <summary>The environment variable that turns the advice on (<c>on</c>) for the arrays of the whole process.</summary>
    public const string Variable = "DROPBOX_HUGE_PAGES";

    private static int _adviceFailed;
    private static long _adviceCalls;
    private static int _populateFailed;
    private static long _populatedBytes;

    /// <summary>Bytes this process had the kernel fault in ahead of use (tests).</summary>
    internal static long PopulatedBytes => Interlocked.Read(ref _populatedBytes);

    /// <summary>Times this process asked the kernel for huge pages (tests: a default allocation must not).</summary>
    internal static long AdviceCalls => Interlocked.Read(ref _adviceCalls);

    /// <summary>Whether arrays are advised unless the caller says (<see cref="Variable"/> is <c>on</c>; off otherwise).</summary>
    public static bool AdviseByDefault { get; } = ParseSetting(Environment.GetEnvironmentVariable(Variable));

    /// <summary>
    /// <c>on</c> (any case, surrounding white space ignored) turns the advice on; anything else, unset included, leaves it
    /// off. Off means only that this process asks for no huge pages: where the kernel's setting is <c>always</c> it may use
    /// them anyway.
    /// </summary>
    public static bool ParseSetting(string? value) => string.Equals(value?.Trim(), "on", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A pinned array of <paramref name="length"/> bytes, not cleared; with <see cref="AdviseByDefault"/>, advised for huge
    /// pages before anything touches it:
    /// the huge pages that hold it, up to the 2 MiB boundaries around it (a 16 MiB array rarely starts on one, and its
    /// two partial pages were 5,100 of the 8,500 faults left in a 1 GiB upload's client). What lies beside it in those
    /// pages is the garbage collector's pinned heap: the advice changes nothing there but the page size (the collector
    /// decommits by mapping memory anew, which drops the advice, and resets with MADV_FREE/MADV_DONTNEED, under which
    /// the kernel splits a huge page). The advice is a hint: if the kernel refuses it (an old kernel, a seccomp filter)
    /// nothing changes but the page size, and it is not asked again.
    /// </summary>
    public static byte[] AllocatePinned(int length) => AllocatePinned(length, AdviseByDefault);

    /// <summary>As <see cref="AllocatePinned(int)"/>, advised for huge pages only if <paramref name="advise"/>.</summary>
    public static byte[] AllocatePinned(int length, bool advise)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var array = GC.AllocateUninitializedArray<byte>(length, pinned: true);
        if (advise && length >= MinAdvisedLength && OperatingSystem.IsLinux() && Volatile.Read(ref _adviceFailed) == 0)
        {
            var (start, span) = EnclosingSpan(array);
            Interlocked.Increment(ref _adviceCalls);
            if (Madvise(start, span, MadvHugePage) != 0)
            {
                // The kernel applies the advice to every mapped part of the range even when it fails for a hole in it
                // (ENOMEM), so there is nothing to undo; it is only not asked again.
                Volatile.Write(ref _adviceFailed, 1);
            }
        }

        return array;
    }

    /// <summary>
    /// Has the kernel fault in, writable, the whole pages among the first <paramref name="length"/> bytes of
    /// <paramref name="array"/> (pinned) in one call, before the caller writes them: a fresh buffer otherwise takes one
    /// page fault per 4 KiB page on first touch, each a trap into the kernel and out. On this project's virtual machines
    /// that trap is most of a fault's cost (a 1 GiB upload's client: 34,000 faults, a fifth of its samples, in filling
    /// fresh read blocks). Contents are unchanged: a page already there stays as it is, and one not yet there would
    /// read as zeros either way. Only for memory the caller is about to fill; where the kernel has no such call (before
    /// 5.14, not Linux) it does nothing, and is not asked again.
    /// </summary>
    public static void Populate(byte[] array, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, array.Length);
        if (!OperatingSystem.IsLinux() || Volatile.Read(ref _populateFailed) != 0)
        {
            return;
        }

        var (start, span) = WholePages(array, length);
        if (span <= 0)
        {
            return;
        }

        if (Madvise(start, span, MadvPopulateWrite) != 0)
        {
            // EINVAL on a kernel without the call; anything else (EFAULT, ENOMEM) leaves the pages to fault on first touch.
            Volatile.Write(ref _populateFailed, 1);
            return;
        }

        Interlocked.Add(ref _populatedBytes, span);
    }

    /// <summary>The whole pages inside the first <paramref name="length"/> bytes of <paramref name="array"/> (pinned).</summary>
    internal static (nint Start, nint Length) WholePages(byte[] array, int length)
    {
        long page = Environment.SystemPageSize;
        var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        var start = (address + page - 1) / page * page;
        var end = (address + length) / page * page;
        return ((nint)start, (nint)Math.Max(0, end - start));
    }

    /// <summary>The huge pages that hold <paramref name="array"/> (pinned), from the boundary before it to the one after.</summary>
    internal static (nint Start, nint Length) EnclosingSpan(byte[] array)
    {
        var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        var start = address / HugePageSize * HugePageSize;
        var end = (address + array.LongLength + HugePageSize - 1) / HugePageSize * HugePageSize;
        return ((nint)start, (nint)(end - start));
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nint length, int advice);
}
