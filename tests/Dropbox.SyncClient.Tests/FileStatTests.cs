using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

public sealed class FileStatTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void One_statx_answers_as_FileInfo_does_for_a_file_a_folder_and_nothing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // statx is Linux's; elsewhere FileInfo answers
        }

        var file = Path.Combine(_dir.Path, "a.bin");
        File.WriteAllBytes(file, new byte[1234]);
        var info = new FileInfo(file);

        var stat = FileChangeTime.TryStat(file);

        Assert.NotNull(stat); // Linux with statx: the one-call path under test
        Assert.True(stat.Value.IsFileAs(info.Length, info.LastWriteTimeUtc.Ticks));
        Assert.Equal(FileChangeTime.TryGet(file), stat.Value.CtimeNs);
        Assert.True(FileHasher.IsAsScanned(file, 1234, info.LastWriteTimeUtc.Ticks, stat.Value.CtimeNs));
        Assert.False(FileHasher.IsAsScanned(file, 1235, info.LastWriteTimeUtc.Ticks));
        Assert.False(FileHasher.IsAsScanned(file, 1234, info.LastWriteTimeUtc.Ticks + 1));
        Assert.False(FileHasher.IsAsScanned(Path.Combine(_dir.Path, "missing"), 0, info.LastWriteTimeUtc.Ticks));
        Assert.False(FileHasher.IsAsScanned(Path.Combine(_dir.Path, "a.bin", "below"), 0, info.LastWriteTimeUtc.Ticks));
        Directory.CreateDirectory(Path.Combine(_dir.Path, "d"));
        var folder = new DirectoryInfo(Path.Combine(_dir.Path, "d"));
        Assert.True(FileChangeTime.TryStat(folder.FullName)!.Value.IsDirectory);
        Assert.False(FileHasher.IsAsScanned(folder.FullName, 0, folder.LastWriteTimeUtc.Ticks));
    }

    [Fact]
    public void A_change_that_keeps_size_and_mtime_still_fails_the_check_by_its_ctime()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var file = Path.Combine(_dir.Path, "a.bin");
        File.WriteAllBytes(file, new byte[10]);
        var before = FileChangeTime.TryStat(file)!.Value;
        Assert.NotNull(before.CtimeNs);

        // chmod moves the ctime and nothing else that the check reads; wait on the clock (bounded) for a new ctime.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var mode = File.GetUnixFileMode(file);
        do
        {
            mode ^= UnixFileMode.OtherRead;
            File.SetUnixFileMode(file, mode);
        }
        while (FileChangeTime.TryStat(file)!.Value.CtimeNs == before.CtimeNs && DateTime.UtcNow < deadline);

        Assert.True(FileHasher.IsAsScanned(file, 10, before.MtimeTicks));
        Assert.False(FileHasher.IsAsScanned(file, 10, before.MtimeTicks, before.CtimeNs));
    }

    [Fact]
    public void A_file_swapped_for_a_link_to_a_copy_with_the_same_size_and_mtime_is_not_as_scanned()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // The scanner saw a regular file; it was moved aside and a symbolic link to it put in its place before the read.
        // The scanner withholds links, so the read must not go through one.
        var file = Path.Combine(_dir.Path, "f.txt");
        File.WriteAllText(file, "hello world");
        var seen = FileChangeTime.TryStat(file)!.Value;
        File.Move(file, file + ".keep");
        File.CreateSymbolicLink(file, file + ".keep");

        Assert.False(FileChangeTime.TryStat(file)!.Value.IsFileAs(seen.Size, seen.MtimeTicks));
        Assert.False(FileHasher.IsAsScanned(file, seen.Size, seen.MtimeTicks));
        Assert.False(FileHasher.IsAsScanned(file, seen.Size, seen.MtimeTicks, null));
    }
}
