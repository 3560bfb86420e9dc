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
    private static int _populateUnsupported;

    [ThreadStatic]
    private static (nint Start, nint Length) _lastPopulated;

    // errno values (the same on every Linux architecture): the call is unknown to the kernel or refused outright.
    private const int EPerm = 1;
    private const int EInval = 22;
    private const int ENoSys = 38;

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
    /// Has the kernel fault in, writable, the whole pages within <paramref name="length"/> bytes of <paramref name="array"/>
    /// (pinned) from <paramref name="offset"/>, in one call, just before the caller fills them (a read into a fresh
    /// buffer): otherwise each 4 KiB page of fresh memory takes a page fault on first touch, a trap into the kernel and
    /// out. On this project's virtual machines that trap is most of a fault's cost (a 1 GiB upload's client: 37,000
    /// faults, a fifth of its samples, in filling fresh read blocks). Pages already there are left as they are (a cheap
    /// walk of their page tables), and one not yet there would read as zeros either way: the bytes do not change. Only
    /// for bytes the caller is about to write: what is populated stays resident as if written. Where the array is advised
    /// for huge pages, the whole huge pages at both ends are faulted in, as a first touch would. Where the kernel has no
    /// such call (before 5.14, not Linux, or a filter refuses it) it does nothing and is not asked again; a transient
    /// failure (memory pressure) leaves the pages to fault on first touch.
    /// </summary>
    /// <returns>True when the kernel populated the range (or it holds no whole page).</returns>
    internal static bool Populate(byte[] array, int offset, int length)
    {
        ArgumentNullException.ThrowIfNull(array);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, array.Length - offset);
        if (!OperatingSystem.IsLinux() || Volatile.Read(ref _populateUnsupported) != 0)
        {
            return false;
        }

        var (start, span) = WholePages(array, offset, length);
        if (span <= 0)
        {
            return true;
        }

        if (Madvise(start, span, MadvPopulateWrite) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            if (error is EInval or EPerm or ENoSys)
            {
                Volatile.Write(ref _populateUnsupported, 1);
            }

            return false;
        }

        _lastPopulated = (start, span);
        return true;
    }

    /// <summary>The range this thread's last successful <see cref="Populate"/> asked for (tests: a read follows it).</summary>
    internal static (nint Start, nint Length) LastPopulatedOnThisThread => _lastPopulated;

    /// <summary>Forgets this thread's last populated range (tests, before the reads they check).</summary>
    internal static void ForgetLastPopulated() => _lastPopulated = default;

    /// <summary>The whole pages within <paramref name="length"/> bytes of <paramref name="array"/> (pinned) from <paramref name="offset"/>.</summary>
    internal static (nint Start, nint Length) WholePages(byte[] array, int offset, int length)
    {
        long page = Environment.SystemPageSize;
        var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(array, 0) + offset;
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
