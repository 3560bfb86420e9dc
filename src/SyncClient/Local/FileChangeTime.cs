using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// A file's inode change time (ctime): the kernel sets it on every write, truncate, chmod or rename, and unlike the
/// mtime no writer can set it back. Size and mtime alone cannot tell a file rewritten in place with its mtime restored
/// (<c>touch -r</c>, tools that keep timestamps); the ctime can. Read with <c>statx</c> on Linux (its struct has one
/// layout on every architecture); null where that is not available (other systems, old kernels), and callers then
/// fall back to size and mtime.
/// </summary>
internal static partial class FileChangeTime
{
    private const int AtFdCwd = -100;
    private const uint StatxCtime = 0x80;
    private const int StatxSize = 256;
    private const int StxMaskOffset = 0;
    private const int StxCtimeOffset = 96;

    /// <summary>
    /// A ctime no file has (the kernel's are positive nanoseconds since the epoch), recorded for a file the client cannot
    /// vouch is the one it wrote or read: it differs from whatever the next scan sees, so that scan reads the file once
    /// (see <see cref="FileStamp.ChangeTimeMoved"/>), where an unknown (null) one would be trusted by size and mtime.
    /// </summary>
    public const long NotVouched = -1;

    /// <summary>
    /// Recorded for a file read (or written) while its ctime could not be seen (statx failed for it), in place of an
    /// unknown (null) one: <see cref="FileStamp.ChangeTimeAsRecorded"/> takes it as no ctime while the scan still sees
    /// none (no read every pass where statx is off for good), and as a ctime moved once a real one is seen (the file is
    /// read once and that ctime recorded). Unknown, the row would let the scan trust size and mtime and learn the ctime
    /// seen then (<c>SyncEngine.MarkClean</c>), hiding an edit made in between with its size and mtime put back.
    /// </summary>
    public const long ReadWithout = -2;

    /// <summary>The ctime to record for a file read or written now: the one seen, or <see cref="ReadWithout"/>.</summary>
    public static long ToRecord(long? seenNs) => seenNs ?? ReadWithout;

    private static volatile bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>The ctime in nanoseconds since the epoch, or null when it cannot be read (missing file, no statx).</summary>
    public static long? TryGet(string path) => TryStat(path)?.CtimeNs;

    /// <summary>
    /// The path's kind, size, mtime and ctime from one statx call, of the path itself (a symbolic link is not followed, as
    /// the scanner does not follow one: a file swapped for a link to a copy is not "as scanned"); null
    /// where statx is unavailable (callers then ask <see cref="FileInfo"/> and <see cref="TryGet"/>). A file's checks before
    /// and after it is read, and again before its commit, took a FileInfo and a statx each: two to four system calls
    /// where one does.
    /// </summary>
    public static Stat? TryStat(string path) => TryStatAt(AtFdCwd, path);

    /// <summary>As <see cref="TryStat(string)"/>, for <paramref name="path"/> relative to the open folder <paramref name="directory"/> (a descriptor).</summary>
    public static Stat? TryStatAt(int directory, string path)
    {
        if (_unavailable)
        {
            return null;
        }

        try
        {
            Span<byte> buffer = stackalloc byte[StatxSize];
            var rc = StatxInto(directory, path, AtSymlinkNoFollow, StatxType | StatxMtime | StatxCtime | StatxSizeMask | StatxIno, buffer);

            if (rc != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == 38) // ENOSYS: a kernel without statx
                {
                    _unavailable = true;
                    return null;
                }

                return errno is 2 or 20 ? default(Stat) : null; // ENOENT, ENOTDIR: nothing there; anything else: ask FileInfo
            }

            var mask = BitConverter.ToUInt32(buffer[StxMaskOffset..]);
            if ((mask & (StatxType | StatxMtime | StatxSizeMask)) != (StatxType | StatxMtime | StatxSizeMask))
            {
                return null;
            }

            var mode = BitConverter.ToUInt16(buffer[StxModeOffset..]);
            var mtimeTicks = DateTime.UnixEpoch.Ticks + (BitConverter.ToInt64(buffer[StxMtimeOffset..]) * TimeSpan.TicksPerSecond)
                + (BitConverter.ToUInt32(buffer[(StxMtimeOffset + 8)..]) / 100);
            long? ctime = (mask & StatxCtime) == 0 ? null
                : (BitConverter.ToInt64(buffer[StxCtimeOffset..]) * 1_000_000_000L) + BitConverter.ToUInt32(buffer[(StxCtimeOffset + 8)..]);
            return new Stat(true, (mode & 0xF000) == 0x4000, (mode & 0xF000) == 0x8000, BitConverter.ToInt64(buffer[StxSizeOffset..]), mtimeTicks, ctime)
            {
                Permissions = (UnixFileMode)(mode & 0xFFF),
                Inode = (mask & StatxIno) == 0 ? null : BitConverter.ToUInt64(buffer[StxInoOffset..]),
                Device = ((ulong)BitConverter.ToUInt32(buffer[StxDevMajorOffset..]) << 32) | BitConverter.ToUInt32(buffer[(StxDevMajorOffset + 4)..]),
                IsSymbolicLink = (mode & 0xF000) == 0xA000,
            };
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _unavailable = true;
            return null;
        }
    }

    /// <summary>
    /// The inode number of the open file <paramref name="handle"/> (statx on the descriptor): what a file at some name
    /// must show to be this very file. Null where it cannot be read.
    /// </summary>
    public static ulong? TryInode(SafeFileHandle handle)
    {
        if (_unavailable)
        {
            return null;
        }

        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            Span<byte> buffer = stackalloc byte[StatxSize];
            var rc = StatxInto((int)handle.DangerousGetHandle(), string.Empty, AtEmptyPath, StatxIno, buffer);

            return rc == 0 && (BitConverter.ToUInt32(buffer[StxMaskOffset..]) & StatxIno) != 0 ? BitConverter.ToUInt64(buffer[StxInoOffset..]) : null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _unavailable = true;
            return null;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// The device and inode of the open file or folder <paramref name="descriptor"/> (statx on it), null where they
    /// cannot be read: two equal pairs are one and the same file.
    /// </summary>
    public static (ulong Device, ulong Inode)? TryIdentity(int descriptor) =>
        TryIdentityAt(descriptor, string.Empty, AtEmptyPath) is { } id ? (id.Device, id.Inode) : null;

    /// <summary>
    /// The device, inode and birth time (ns since the epoch; null where the file system keeps none) of what is at
    /// <paramref name="path"/> (a link not followed), null where nothing is there or they cannot be read. A rename keeps
    /// inode and birth time; a folder made again at a name just freed may be given the same inode number (ext4 does so at
    /// once), but not the same birth time.
    /// </summary>
    public static (ulong Device, ulong Inode, long? BirthNs)? TryIdentityAndBirth(string path) => TryIdentityAt(AtFdCwd, path, AtSymlinkNoFollow);

    /// <summary>The one statx reader of a thing's identity (<see cref="TryIdentity"/>, <see cref="TryIdentityAndBirth"/>).</summary>
    private static (ulong Device, ulong Inode, long? BirthNs)? TryIdentityAt(int directory, string path, int flags)
    {
        if (_unavailable)
        {
            return null;
        }

        try
        {
            Span<byte> buffer = stackalloc byte[StatxSize];
            var rc = StatxInto(directory, path, flags, StatxIno | StatxBtime, buffer);
            var mask = rc == 0 ? BitConverter.ToUInt32(buffer[StxMaskOffset..]) : 0;
            if ((mask & StatxIno) == 0)
            {
                return null;
            }

            // stx_dev_major and stx_dev_minor: always filled in.
            var device = ((ulong)BitConverter.ToUInt32(buffer[StxDevMajorOffset..]) << 32) | BitConverter.ToUInt32(buffer[(StxDevMajorOffset + 4)..]);
            long? birth = (mask & StatxBtime) == 0 ? null : (BitConverter.ToInt64(buffer[StxBtimeOffset..]) * 1_000_000_000L) + BitConverter.ToUInt32(buffer[(StxBtimeOffset + 8)..]);
            return (device, BitConverter.ToUInt64(buffer[StxInoOffset..]), birth);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _unavailable = true;
            return null;
        }
    }

    /// <summary>What <see cref="TryStat"/> saw: <see cref="Exists"/> false when nothing is at the path.</summary>
    internal readonly record struct Stat(bool Exists, bool IsDirectory, bool IsRegularFile, long Size, long MtimeTicks, long? CtimeNs)
    {
        /// <summary>The permission bits of the mode (the same call's: a file's executable bit needs no stat of its own).</summary>
        public UnixFileMode Permissions { get; init; }

        /// <summary>
        /// The inode number (the same call's), null where the file system did not give it: a file saved by rename (a new
        /// file moved over the name) has another one, even with the old size and mtime put back.
        /// </summary>
        public ulong? Inode { get; init; }

        /// <summary>The device (stx_dev_major, stx_dev_minor: always filled in), with <see cref="Inode"/> what names one file.</summary>
        public ulong Device { get; init; }

        /// <summary>A symbolic link (the path itself, not followed).</summary>
        public bool IsSymbolicLink { get; init; }

        /// <summary>A regular file (not a folder, not a symbolic link) of this size and mtime.</summary>
        public bool IsFileAs(long size, long mtimeTicks) => Exists && IsRegularFile && new FileStamp(Size, MtimeTicks) == new FileStamp(size, mtimeTicks);
    }

    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxIno = 0x100;
    private const uint StatxBtime = 0x800;
    private const int StxBtimeOffset = 80;
    private const int StxInoOffset = 32;
    private const int StxDevMajorOffset = 136;
    private const uint StatxType = 0x1;
    private const uint StatxMtime = 0x40;
    private const uint StatxSizeMask = 0x200;
    private const int StxModeOffset = 28;
    private const int StxSizeOffset = 40;
    private const int StxMtimeOffset = 112;

    /// <summary>
    /// True when something is at <paramref name="path"/> (not followed) that is neither a regular file nor a folder: a FIFO,
    /// socket or device (or a symbolic link). Such a thing has no content to sync, and opening a FIFO to read it blocks
    /// until a writer comes. Told by statx; where statx cannot be used, by the runtime's own lstat (see
    /// <see cref="TryLStatMode"/>), since <see cref="FileInfo"/> calls a FIFO a file of length 0. False when it is a file
    /// or a folder, is gone, or cannot be told (Windows, where a folder holds no such thing).
    /// </summary>
    public static bool IsSpecial(string path) =>
        TryStat(path) is { } stat
            ? stat.Exists && !stat.IsRegularFile && !stat.IsDirectory
            : TryLStatMode(path) is { } mode && (mode & FileTypeMask) is not (RegularFileType or DirectoryType);

    /// <summary>
    /// The mode (type and permission bits) of the path itself from lstat, through the .NET runtime's native shim
    /// (<c>SystemNative_LStat</c>, which FileInfo itself calls on every Unix: one struct layout everywhere, the mode its second
    /// field, where libc's struct stat differs by architecture and older glibc exports no <c>lstat</c>). Null where it
    /// cannot be read (gone, Windows, a runtime without that export).
    /// </summary>
    private static int? TryLStatMode(string path)
    {
        if (_lstatUnavailable || OperatingSystem.IsWindows())
        {
            return null;
        }

        try
        {
            Span<byte> status = stackalloc byte[LStatSize];
            return LStatInto(path, status) == 0 ? BitConverter.ToInt32(status[LStatModeOffset..]) : null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _lstatUnavailable = true;
            return null;
        }
    }

    private static volatile bool _lstatUnavailable;
    private const int LStatSize = 256; // the shim's FileStatus is about 120 bytes: room for fields a later runtime adds
    private const int LStatModeOffset = 4;
    private const int FileTypeMask = 0xF000;
    private const int RegularFileType = 0x8000;
    private const int DirectoryType = 0x4000;

    /// <summary>One lstat call into <paramref name="status"/> (<see cref="LStatSize"/> bytes, cleared first); its return code.</summary>
    private static unsafe int LStatInto(string path, Span<byte> status)
    {
        status.Clear();
        fixed (byte* p = status)
        {
            return LStat(path, p);
        }
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_LStat", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int LStat(string path, byte* status);

    /// <summary>True when <paramref name="expected"/> is unknown (null) or the file's ctime is still exactly it.</summary>
    public static bool IsUnchanged(string path, long? expected) => expected is not { } ctime || TryGet(path) == ctime;

    /// <summary>One statx call into <paramref name="buffer"/> (<see cref="StatxSize"/> bytes, cleared first); its return code.</summary>
    private static unsafe int StatxInto(int dirfd, string path, int flags, uint mask, Span<byte> buffer)
    {
        buffer.Clear();
        fixed (byte* p = buffer)
        {
            return Statx(dirfd, path, flags, mask, p);
        }
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}
