using System.Runtime.InteropServices;
using Dropbox.Shared.IO;

namespace Dropbox.Shared.Tests.IO;

public sealed class DirectorySyncTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly string _dir;

    public DirectorySyncTests() => _dir = _temp.Path;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Flushing_a_real_directory_succeeds()
    {
        File.WriteAllText(Path.Combine(_dir, "a"), "x");

        DirectorySync.Flush(_dir);
    }

    [Fact]
    public void Syncing_the_file_system_of_a_real_directory_is_done_on_Linux_and_declined_elsewhere()
    {
        File.WriteAllText(Path.Combine(_dir, "a"), "x");

        Assert.Equal(OperatingSystem.IsLinux(), DirectorySync.SyncFileSystem(_dir));
    }

    [Fact]
    public void Syncing_the_file_system_of_a_missing_directory_throws_instead_of_pretending()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var missing = Path.Combine(_dir, "missing");

        var error = Assert.Throws<IOException>(() => DirectorySync.SyncFileSystem(missing));

        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public void Flushing_a_directory_that_does_not_exist_throws_instead_of_pretending()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var missing = Path.Combine(_dir, "missing");

        var error = Assert.Throws<IOException>(() => DirectorySync.Flush(missing));

        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public void Flushing_a_file_as_a_directory_throws_because_it_opens_with_O_DIRECTORY()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "x");

        Assert.Throws<IOException>(() => DirectorySync.Flush(file));
    }

    [Theory]
    [InlineData("LINUX", Architecture.X64, 0x10000, 0x80000)]
    [InlineData("LINUX", Architecture.Arm64, 0x4000, 0x80000)]
    [InlineData("LINUX", Architecture.Ppc64le, 0x4000, 0x80000)]
    [InlineData("LINUX", Architecture.S390x, 0x10000, 0x80000)]
    [InlineData("OSX", Architecture.Arm64, 0x100000, 0x1000000)]
    [InlineData("FREEBSD", Architecture.X64, 0x20000, 0x100000)]
    public void Open_flags_are_the_systems_own_O_DIRECTORY_and_O_CLOEXEC(string os, Architecture architecture, int directory, int closeOnExec)
    {
        Assert.Equal((directory, closeOnExec), DirectorySync.FlagsFor(OSPlatform.Create(os), architecture));
    }

    [Fact]
    public void Open_flags_are_not_guessed_for_an_unknown_system()
    {
        Assert.Null(DirectorySync.FlagsFor(OSPlatform.Create("SOLARIS"), Architecture.X64));
        Assert.Null(DirectorySync.FlagsFor(OSPlatform.Linux, Architecture.Wasm));
    }

    [Fact]
    public void The_real_path_of_a_folder_reached_through_a_symbolic_link_is_the_target_and_a_missing_one_throws()
    {
        var target = Directory.CreateDirectory(Path.Combine(_dir, "target")).FullName;
        Directory.CreateDirectory(Path.Combine(target, "sub"));
        var link = Path.Combine(_dir, "link");
        Directory.CreateSymbolicLink(link, target);

        var real = DirectorySync.RealPath(Path.Combine(link, "sub"));

        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            Assert.Equal(Path.Combine(DirectorySync.RealPath(target), "sub"), real);
            Assert.DoesNotContain("link", real, StringComparison.Ordinal);
            Assert.Throws<IOException>(() => DirectorySync.RealPath(Path.Combine(_dir, "missing")));
        }
    }
}
