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

    [Theory]
    [InlineData(216, "n")]  // a 220-byte name (216 + ".txt"): 258 bytes as a conflicted copy unless cut
    [InlineData(73, "文")] // 73 CJK characters of 3 bytes each (219 bytes) + ".txt"
    [InlineData(60, "😀")] // 60 characters outside the BMP (4 bytes, two UTF-16 units each) + ".txt"
    public void A_long_name_is_cut_at_a_character_so_the_copy_fits_in_255_bytes_with_its_extension_kept(int count, string unit)
    {
        var stem = string.Concat(Enumerable.Repeat(unit, count));

        var name = ConflictNames.Next("docs/" + stem + ".txt", "laptop-b", Day, _ => false);

        Assert.StartsWith("docs/", name, StringComparison.Ordinal);
        var file = name["docs/".Length..];
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(file), 252, 255);
        Assert.EndsWith(" (conflicted copy laptop-b 2026-11-23).txt", file, StringComparison.Ordinal);
        var kept = file[..file.IndexOf(ConflictNames.Marker, StringComparison.Ordinal)];
        Assert.StartsWith(kept, stem, StringComparison.Ordinal);
        Assert.True(System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(kept)) == kept, "cut inside a character");
        Assert.True(Dropbox.Shared.Paths.PathRules.TryNormalize(name, out _, out var error), error);
    }

    [Fact]
    public void The_counter_of_a_cut_name_fits_too()
    {
        var path = new string('n', 250) + ".txt";
        var first = ConflictNames.Next(path, "pc", Day, _ => false);

        var second = ConflictNames.Next(path, "pc", Day, p => p == first);

        Assert.EndsWith(" 2026-11-23 2).txt", second, StringComparison.Ordinal);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(second) <= 255);
    }
}
