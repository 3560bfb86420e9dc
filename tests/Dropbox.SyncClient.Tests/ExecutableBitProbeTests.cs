using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary><see cref="ExecutableBitProbe"/> on real folders (a folder that cannot hold the bit, vfat, needs root to mount).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ExecutableBitProbeTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_local_folder_holds_the_bit_and_the_probe_leaves_nothing_behind()
    {
        var folder = _dir.CreateSub("folder");
        File.WriteAllText(Path.Combine(folder, "user.txt"), "untouched");

        Assert.True(ExecutableBitProbe.Holds(folder));
        Assert.Equal("user.txt", Path.GetFileName(Assert.Single(Directory.GetFileSystemEntries(folder))));
    }

    [Fact]
    public void A_folder_the_probe_cannot_write_in_gives_no_answer_rather_than_cannot_hold()
    {
        Assert.Null(ExecutableBitProbe.Holds(_dir.Sub("missing")));
    }
}
