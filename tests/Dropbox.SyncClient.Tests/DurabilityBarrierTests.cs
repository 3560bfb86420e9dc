using Dropbox.SyncClient.Local;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The real durability barrier's choices, its system calls replaced where a test cannot make the kernel fail: errors
/// come out as one <see cref="IOException"/>, syncfs is followed by a per-handle fsync (which reports each file's own
/// write-back error), and syncfs is used only on a local file system of a known type with nothing mounted inside the
/// folder's real path.
/// </summary>
public sealed class DurabilityBarrierTests : IDisposable
{
    private const string Ext4Root = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Flushing_two_missing_folders_throws_an_IOException_not_an_AggregateException()
    {
        var missing = new[] { Path.Combine(_dir.Path, "gone1"), Path.Combine(_dir.Path, "gone2") };

        var e = Record.Exception(() => DurabilityBarrier.Default.FlushDirectories(missing));

        Assert.IsType<IOException>(e);
        Assert.Contains("gone", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_whose_own_fsync_fails_after_a_successful_file_system_sync_fails_the_barrier()
    {
        var syncs = 0;
        var barrier = new DurabilityBarrier(true, () => Ext4Root, _ => { syncs++; return true; }, _ => throw new IOException("simulated: write-back error on this file"));
        var handles = OpenTempFiles(DurabilityBarrier.FileSystemSyncMinFiles);
        try
        {
            var e = Record.Exception(() => barrier.FlushFiles(_dir.Path, handles));

            Assert.Equal(OperatingSystem.IsLinux() ? 1 : 0, syncs);
            Assert.IsType<IOException>(e);
            Assert.Contains("write-back error", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Close(handles);
        }
    }

    [Fact]
    public void With_a_mark_taken_before_the_writes_one_file_system_sync_stands_for_the_batch_where_it_reports_errors()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Linux only
        }

        var marked = 0;
        var flushes = 0;
        var barrier = new DurabilityBarrier(true, () => Ext4Root, _ => true, _ => Interlocked.Increment(ref flushes), (_, _) => marked++, syncReportsErrors: true);
        using var mark = barrier.Mark(_dir.Path);
        var handles = OpenTempFiles(DurabilityBarrier.FileSystemSyncMinFiles);
        try
        {
            barrier.FlushFiles(_dir.Path, handles, mark);
        }
        finally
        {
            Close(handles);
        }

        Assert.NotNull(mark);
        Assert.Equal(1, marked);
        Assert.Equal(0, flushes); // no fsync of each clean file after it (2-4 s of CPU for 10,000 files)
    }

    [Fact]
    public void A_mount_that_appears_inside_the_folder_after_the_mark_makes_the_batch_sync_file_by_file()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Linux only
        }

        var real = Shared.IO.DirectorySync.RealPath(_dir.Path);
        var mountInfo = Ext4Root;
        var marked = 0;
        var flushes = 0;
        var barrier = new DurabilityBarrier(true, () => mountInfo, _ => true, _ => Interlocked.Increment(ref flushes), (_, _) => marked++, syncReportsErrors: true);
        using var mark = barrier.Mark(_dir.Path);
        mountInfo += $"40 22 8:17 / {real}/usb rw,relatime shared:2 - vfat /dev/sdb1 rw\n";
        var handles = OpenTempFiles(DurabilityBarrier.FileSystemSyncMinFiles);
        try
        {
            barrier.FlushFiles(_dir.Path, handles, mark);
        }
        finally
        {
            Close(handles);
        }

        Assert.NotNull(mark);
        Assert.Equal(0, marked);
        Assert.Equal(handles.Count, flushes);
    }

    [Fact]
    public void Where_syncfs_does_not_report_write_back_errors_there_is_no_mark_and_every_file_is_flushed_after_it()
    {
        var marked = 0;
        var flushes = 0;
        var barrier = new DurabilityBarrier(true, () => Ext4Root, _ => true, _ => Interlocked.Increment(ref flushes), (_, _) => marked++, syncReportsErrors: false);
        using var mark = barrier.Mark(_dir.Path);
        var handles = OpenTempFiles(DurabilityBarrier.FileSystemSyncMinFiles);
        try
        {
            barrier.FlushFiles(_dir.Path, handles, mark);
        }
        finally
        {
            Close(handles);
        }

        Assert.Null(mark);
        Assert.Equal(0, marked);
        Assert.Equal(handles.Count, flushes);
    }

    [Fact]
    public void A_write_back_error_reported_through_the_mark_fails_the_barrier()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Linux only
        }

        var barrier = new DurabilityBarrier(true, () => Ext4Root, _ => true, _ => { }, (_, _) => throw new IOException("simulated: syncfs reports a write-back error"), syncReportsErrors: true);
        using var mark = barrier.Mark(_dir.Path);
        var handles = OpenTempFiles(DurabilityBarrier.FileSystemSyncMinFiles);
        try
        {
            var e = Record.Exception(() => barrier.FlushFiles(_dir.Path, handles, mark));

            Assert.IsType<IOException>(e);
            Assert.Contains("write-back error", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Close(handles);
        }
    }

    [Fact]
    public void The_real_mark_and_file_system_sync_make_a_batch_durable_without_error()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Linux only
        }

        var barrier = DurabilityBarrier.Default;
        using var mark = barrier.Mark(_dir.Path);
        var handles = OpenTempFiles(DurabilityBarrier.FileSystemSyncMinFiles);
        try
        {
            barrier.FlushFiles(_dir.Path, handles, mark);
        }
        finally
        {
            Close(handles);
        }
    }

    [Theory]
    [InlineData("fuse.sshfs", false)]
    [InlineData("fuse.mergerfs", false)]
    [InlineData("nfs4", false)]
    [InlineData("ext4", true)]
    [InlineData("xfs", true)]
    public void Syncfs_is_used_only_on_a_file_system_whose_syncfs_makes_data_durable(string type, bool syncfs)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Linux only
        }

        var mountInfo = $"22 1 0:50 / / rw,nosuid shared:1 - {type} remote:/home rw\n";
        var syncs = 0;
        var flushes = 0;
        var barrier = new DurabilityBarrier(true, () => mountInfo, _ => { Interlocked.Increment(ref syncs); return true; }, _ => Interlocked.Increment(ref flushes));
        var handles = OpenTempFiles(DurabilityBarrier.FileSystemSyncMinFiles);
        try
        {
            barrier.FlushFiles(_dir.Path, handles);
        }
        finally
        {
            Close(handles);
        }

        Assert.Equal(syncfs ? 1 : 0, syncs);
        Assert.Equal(handles.Count, flushes); // each file's own fsync either way
    }

    [Fact]
    public void A_mount_inside_a_symlinked_sync_folder_is_seen_through_the_link()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Linux only
        }

        var real = _dir.CreateSub("real");
        Directory.CreateDirectory(Path.Combine(real, "inner"));
        var link = Path.Combine(_dir.Path, "link");
        Directory.CreateSymbolicLink(link, real);
        var mountInfo = Ext4Root + $"40 22 0:60 / {Path.Combine(real, "inner")} rw - ext4 /dev/sdb1 rw\n";
        var barrier = new DurabilityBarrier(true, () => mountInfo, _ => true, _ => { });

        Assert.False(barrier.CanSyncFileSystem(real));
        Assert.False(barrier.CanSyncFileSystem(link));
        Assert.True(barrier.CanSyncFileSystem(_dir.CreateSub("plain")));
    }

    private List<SafeFileHandle> OpenTempFiles(int count) =>
        Enumerable.Range(0, count).Select(i => File.OpenHandle(Path.Combine(_dir.Path, $"f{i}"), FileMode.Create, FileAccess.ReadWrite)).ToList();

    private static void Close(List<SafeFileHandle> handles)
    {
        foreach (var h in handles)
        {
            h.Dispose();
        }
    }
}
