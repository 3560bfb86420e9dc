using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Applying the executable bit where the filesystem cannot hold it. A real vfat/exFAT mount needs root here, so the
/// filesystem's chmod is replaced by the seam <see cref="ExecutableBit.Apply"/> takes: one that refuses (vfat's EPERM)
/// and one that is ignored (the mode stays as it was).
/// </summary>
public sealed class ExecutableBitTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), "xbit-" + Guid.NewGuid().ToString("N"));

    public ExecutableBitTests() => File.WriteAllText(_file, "#!/bin/sh\n");

    public void Dispose() => File.Delete(_file);

    [Fact]
    public void A_chmod_the_filesystem_refuses_does_not_fail_and_the_bit_read_back_is_returned()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        File.SetUnixFileMode(_file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var applied = ExecutableBit.Apply(_file, executable: false, setMode: (_, _) => throw new UnauthorizedAccessException("Operation not permitted"));

        Assert.True(applied); // the file still reads +x, and that is what the caller records
    }

    [Fact]
    public void A_chmod_the_filesystem_ignores_returns_the_bit_the_file_really_has()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        File.SetUnixFileMode(_file, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        Assert.False(ExecutableBit.Apply(_file, executable: true, setMode: (_, _) => { }));
        Assert.True(ExecutableBit.Apply(_file, executable: true));
    }
}
