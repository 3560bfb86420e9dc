using Dropbox.Shared.IO;

namespace Dropbox.Shared.Tests.IO;

public sealed class DirectorySyncTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dbx-dirsync-tests", Guid.NewGuid().ToString("N"));

    public DirectorySyncTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Flushing_a_real_directory_succeeds()
    {
        File.WriteAllText(Path.Combine(_dir, "a"), "x");

        DirectorySync.Flush(_dir);
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
}
