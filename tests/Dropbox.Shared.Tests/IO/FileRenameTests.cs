using Dropbox.Shared.IO;

namespace Dropbox.Shared.Tests.IO;

public sealed class FileRenameTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly string _dir;

    public FileRenameTests() => _dir = _temp.Path;

    public void Dispose() => _temp.Dispose();

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void MoveNewElseMove_moves_to_a_free_name_and_leaves_both_files_when_the_name_is_taken()
    {
        var source = Write("source", "moved");
        var free = Path.Combine(_dir, "free");
        Assert.Equal(RenameOutcome.Done, FileRename.MoveNewElseMove(source, free));
        Assert.Equal("moved", File.ReadAllText(free));
        Assert.False(File.Exists(source));

        var second = Write("second", "mine");
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(RenameOutcome.DestinationExists, FileRename.MoveNewElseMove(second, free));
        }
        else
        {
            Assert.Throws<IOException>(() => FileRename.MoveNewElseMove(second, free));
        }

        Assert.Equal("moved", File.ReadAllText(free));
        Assert.Equal("mine", File.ReadAllText(second));
    }

    [Fact]
    public void LinkNew_gives_a_second_name_to_the_same_file_and_never_replaces_one()
    {
        // Arrange
        Assert.True(OperatingSystem.IsLinux(), "the client's trash relies on hard links on Linux");
        var source = Write("source", "one file");
        var second = Path.Combine(_dir, "second");
        var taken = Write("taken", "mine");

        // Act
        var linked = FileRename.LinkNew(source, second);
        var refused = FileRename.LinkNew(source, taken);
        File.AppendAllText(source, ", two names");

        // Assert: one file under both names (a write through one is in the other); the taken name kept its own.
        Assert.Equal(RenameOutcome.Done, linked);
        Assert.Equal(RenameOutcome.DestinationExists, refused);
        Assert.Equal("one file, two names", File.ReadAllText(second));
        Assert.Equal("mine", File.ReadAllText(taken));
    }

    [Fact]
    public void LinkNew_across_file_systems_is_an_IOException_with_EXDEV_and_changes_nothing()
    {
        // Arrange: /dev/shm is tmpfs, the temp folder is not.
        var source = Write("source", "here");
        var other = Path.Combine("/dev/shm", "dbx-link-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // Act
            var e = Assert.ThrowsAny<IOException>(() => FileRename.LinkNew(source, other));

            // Assert
            Assert.Equal(18, e.HResult);
            Assert.False(File.Exists(other));
            Assert.Equal("here", File.ReadAllText(source));
        }
        finally
        {
            File.Delete(other);
        }
    }

    [Fact]
    public void Replace_puts_the_file_over_another_and_the_source_name_is_gone()
    {
        var source = Write("temp", "new");
        var destination = Write("file", "old");

        FileRename.Replace(source, destination);

        Assert.Equal("new", File.ReadAllText(destination));
        Assert.False(File.Exists(source));
    }

    [Fact]
    public void Replace_refuses_a_folder_at_the_destination_naming_it_and_saying_why_and_leaves_both()
    {
        var source = Write("temp", "new");
        var destination = Path.Combine(_dir, "folder");
        Directory.CreateDirectory(destination);
        File.WriteAllText(Path.Combine(destination, "inside"), "kept");

        var e = Assert.ThrowsAny<IOException>(() => FileRename.Replace(source, destination));

        Assert.Contains($"'{destination}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("a folder is at that name", e.Message, StringComparison.Ordinal);
        Assert.Equal("new", File.ReadAllText(source));
        Assert.Equal("kept", File.ReadAllText(Path.Combine(destination, "inside")));
    }

    [Fact]
    public void Replace_replaces_a_link_at_the_destination_itself_never_its_target()
    {
        var source = Write("temp", "new");
        var target = Write("target", "the link's target");
        var destination = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(destination, target);

        FileRename.Replace(source, destination);

        Assert.Null(new FileInfo(destination).LinkTarget);
        Assert.Equal("new", File.ReadAllText(destination));
        Assert.Equal("the link's target", File.ReadAllText(target));
    }

    [Fact]
    public void Replace_of_a_missing_source_is_a_FileNotFoundException_naming_the_destination_and_changes_nothing()
    {
        var destination = Write("file", "old");

        var e = Assert.Throws<FileNotFoundException>(() => FileRename.Replace(Path.Combine(_dir, "gone"), destination));

        Assert.Contains($"'{destination}'", e.Message, StringComparison.Ordinal);
        Assert.Equal("old", File.ReadAllText(destination));
    }

    [Fact]
    public void Replace_into_a_missing_folder_is_a_DirectoryNotFoundException_naming_the_destination()
    {
        var source = Write("temp", "new");
        var destination = Path.Combine(_dir, "no such folder", "file");

        var e = Assert.Throws<DirectoryNotFoundException>(() => FileRename.Replace(source, destination));

        Assert.Contains($"'{destination}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("folder does not exist", e.Message, StringComparison.Ordinal);
        Assert.Equal("new", File.ReadAllText(source));
    }

    [Fact]
    public void Replace_where_a_file_is_where_a_folder_should_be_is_an_IOException_saying_so()
    {
        var source = Write("temp", "new");
        _ = Write("plain", "a file, not a folder");
        var destination = Path.Combine(_dir, "plain", "file");

        var e = Assert.ThrowsAny<IOException>(() => FileRename.Replace(source, destination));

        Assert.Contains($"'{destination}'", e.Message, StringComparison.Ordinal);
        if (OperatingSystem.IsLinux())
        {
            Assert.Contains("a file is where a folder on the way should be", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal("new", File.ReadAllText(source));
    }

    [Fact]
    public void MoveNew_moves_to_a_free_name_and_never_replaces_an_existing_file()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Equal(RenameOutcome.NotSupported, FileRename.MoveNew(Write("temp", "new"), Path.Combine(_dir, "free")));
            return;
        }

        var source = Write("temp", "new");
        var taken = Write("taken", "the user's");

        Assert.Equal(RenameOutcome.DestinationExists, FileRename.MoveNew(source, taken));
        Assert.Equal("the user's", File.ReadAllText(taken));
        Assert.Equal("new", File.ReadAllText(source));

        var free = Path.Combine(_dir, "free");
        Assert.Equal(RenameOutcome.Done, FileRename.MoveNew(source, free));
        Assert.Equal("new", File.ReadAllText(free));
        Assert.False(File.Exists(source));
    }

    [Fact]
    public void MoveNew_counts_a_folder_or_a_dangling_link_at_the_name_as_taken()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var source = Write("temp", "new");
        var folder = Path.Combine(_dir, "folder");
        Directory.CreateDirectory(folder);
        var link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, Path.Combine(_dir, "nowhere"));

        Assert.Equal(RenameOutcome.DestinationExists, FileRename.MoveNew(source, folder));
        Assert.Equal(RenameOutcome.DestinationExists, FileRename.MoveNew(source, link));
        Assert.True(Directory.Exists(folder));
        Assert.NotNull(new FileInfo(link).LinkTarget);
    }

    [Fact]
    public void Exchange_swaps_two_files_and_says_when_nothing_is_there_to_swap_with()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var source = Write("temp", "new");
        var destination = Write("file", "old");

        Assert.Equal(RenameOutcome.Done, FileRename.Exchange(source, destination));
        Assert.Equal("new", File.ReadAllText(destination));
        Assert.Equal("old", File.ReadAllText(source));

        var missing = Path.Combine(_dir, "missing");
        Assert.Equal(RenameOutcome.DestinationMissing, FileRename.Exchange(source, missing));
        Assert.Equal("old", File.ReadAllText(source));
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public void Exchange_of_a_folder_with_nothing_says_so_and_leaves_the_folder_where_it_is()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var folder = Path.Combine(_dir, "folder");
        Directory.CreateDirectory(folder);
        var missing = Path.Combine(_dir, "missing");

        Assert.Equal(RenameOutcome.DestinationMissing, FileRename.Exchange(folder, missing));
        Assert.True(Directory.Exists(folder));
        Assert.False(Path.Exists(missing));
    }

    [Fact]
    public void Exchange_of_a_missing_source_is_a_FileNotFoundException()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var destination = Write("file", "old");

        Assert.Throws<FileNotFoundException>(() => FileRename.Exchange(Path.Combine(_dir, "gone"), destination));
        Assert.Equal("old", File.ReadAllText(destination));
    }
}
