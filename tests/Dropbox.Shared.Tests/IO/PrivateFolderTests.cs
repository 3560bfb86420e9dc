using Dropbox.Shared.IO;

namespace Dropbox.Shared.Tests.IO;

public sealed class PrivateFolderTests : IDisposable
{
    private const UnixFileMode Loose = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly TempFolder _temp = new();
    private readonly string _dir;

    public PrivateFolderTests() => _dir = _temp.Sub("private");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_new_folder_and_its_missing_parents_are_owner_only()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var nested = Path.Combine(_dir, "a", "b");

        PrivateFolder.Create(nested);

        Assert.Equal(PrivateFolder.Mode, File.GetUnixFileMode(nested));
        Assert.Equal(PrivateFolder.Mode, File.GetUnixFileMode(Path.Combine(_dir, "a")));
    }

    [Fact]
    public void An_existing_loose_tree_is_tightened_folders_0700_files_0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var sub = Path.Combine(_dir, "sub");
        Directory.CreateDirectory(sub);
        var file = Path.Combine(sub, "data");
        File.WriteAllText(file, "x");
        File.SetUnixFileMode(_dir, Loose);
        File.SetUnixFileMode(sub, Loose);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        PrivateFolder.CreateAndTightenTree(_dir);

        Assert.Equal(PrivateFolder.Mode, File.GetUnixFileMode(_dir));
        Assert.Equal(PrivateFolder.Mode, File.GetUnixFileMode(sub));
        Assert.Equal(PrivateFile.Mode, File.GetUnixFileMode(file));
    }

    [Fact]
    public void An_atomically_replaced_file_is_owner_only_and_holds_the_new_bytes()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "token");
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        AtomicFile.WriteAllText(path, "new");

        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(PrivateFile.Mode, File.GetUnixFileMode(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void An_entry_that_vanishes_mid_walk_is_skipped()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        // As a walk lists it: the status is read, then (a running node's RocksDB) deletes the file before the chmod.
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "000123.log");
        File.WriteAllText(path, "x");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var entry = new FileInfo(path);
        _ = entry.Attributes;
        File.Delete(path);

        PrivateFolder.TightenEntry(entry);

        Assert.False(File.Exists(path));
    }
}
