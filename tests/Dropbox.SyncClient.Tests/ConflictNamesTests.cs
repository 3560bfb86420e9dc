using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

public sealed class ConflictNamesTests
{
    private static readonly DateOnly Day = new(2026, 11, 23);

    [Theory]
    [InlineData("report.docx", "report (conflicted copy laptop 2026-11-23).docx")]
    [InlineData("dir/sub/notes.txt", "dir/sub/notes (conflicted copy laptop 2026-11-23).txt")]
    [InlineData("Makefile", "Makefile (conflicted copy laptop 2026-11-23)")]
    [InlineData(".bashrc", ".bashrc (conflicted copy laptop 2026-11-23)")]
    [InlineData("archive.tar.gz", "archive.tar (conflicted copy laptop 2026-11-23).gz")]
    public void The_first_name_follows_the_dropbox_pattern(string path, string expected)
    {
        Assert.Equal(expected, ConflictNames.Next(path, "laptop", Day, _ => false));
    }

    [Fact]
    public void Taken_names_get_a_counter()
    {
        var taken = new HashSet<string> { "a (conflicted copy pc 2026-11-23).txt", "a (conflicted copy pc 2026-11-23 2).txt" };

        var name = ConflictNames.Next("a.txt", "pc", Day, taken.Contains);

        Assert.Equal("a (conflicted copy pc 2026-11-23 3).txt", name);
        Assert.True(ConflictNames.IsConflictedCopy(name));
        Assert.False(ConflictNames.IsConflictedCopy("a.txt"));
    }
}
