using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests;

public sealed class LocalScannerTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string relative, string text)
    {
        var full = Path.Combine(_dir.Path, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    [Fact]
    public void Scan_reports_files_folders_sizes_and_times_as_on_disk()
    {
        var full = Write("docs/a.txt", "hello");
        Directory.CreateDirectory(Path.Combine(_dir.Path, "empty"));

        var snapshot = new LocalScanner(_dir.Path, IgnoreMatcher.BuiltIn) { Stability = Local.Stability.Off }.Scan(CancellationToken.None);

        var file = snapshot.Entries["docs/a.txt"];
        Assert.Equal(FileKind.File, file.Kind);
        Assert.Equal(5, file.Size);
        Assert.Equal(File.GetLastWriteTimeUtc(full).Ticks, file.MtimeTicks);
        Assert.Equal(FileKind.Folder, snapshot.Entries["docs"].Kind);
        Assert.Contains("empty", snapshot.EmptyFolders);
    }

    [Fact]
    public void Scan_leaves_out_what_the_callback_calls_clean_but_still_descends_into_clean_folders()
    {
        Write("keep/changed.txt", "x");
        Write("keep/same.txt", "y");
        var asked = new List<string>();

        var snapshot = new LocalScanner(_dir.Path, IgnoreMatcher.BuiltIn) { Stability = Local.Stability.Off }.Scan((path, kind, size, mtime) =>
        {
            asked.Add(path);
            return path != "keep/changed.txt";
        }, CancellationToken.None);

        Assert.Equal(["keep/changed.txt"], snapshot.Entries.Keys);
        Assert.Equal(["keep", "keep/changed.txt", "keep/same.txt"], asked.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Scan_reports_names_that_differ_only_in_case_and_skips_symbolic_links()
    {
        Write("dir/Report.txt", "1");
        Write("dir/report.TXT", "2");
        Write("other/report.txt", "3"); // same name in another folder is no clash
        File.CreateSymbolicLink(Path.Combine(_dir.Path, "link.txt"), Path.Combine(_dir.Path, "other/report.txt"));

        var snapshot = new LocalScanner(_dir.Path, IgnoreMatcher.BuiltIn) { Stability = Local.Stability.Off }.Scan(CancellationToken.None);

        var clash = Assert.Single(snapshot.CaseClashes);
        Assert.Contains("dir/", clash, StringComparison.Ordinal);
        Assert.Contains(snapshot.Skipped, s => s.StartsWith("link.txt:", StringComparison.Ordinal));
        Assert.False(snapshot.Entries.ContainsKey("link.txt"));
        Assert.True(snapshot.Entries.ContainsKey("other/report.txt"));

        // What was left out is withheld (there, not deleted): the losing name of the clash and the link.
        var taken = snapshot.Entries.ContainsKey("dir/Report.txt") ? "dir/Report.txt" : "dir/report.TXT";
        var lost = taken == "dir/Report.txt" ? "dir/report.TXT" : "dir/Report.txt";
        Assert.False(snapshot.Entries.ContainsKey(lost));
        Assert.Equal([lost, "link.txt"], snapshot.Withheld.Order(StringComparer.Ordinal));
        Assert.True(snapshot.IsWithheld(lost));
        Assert.False(snapshot.IsWithheld(taken));
    }
}
