using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

public sealed class IgnoreMatcherTests
{
    [Theory]
    [InlineData("*.log", "a.log", false, true)]
    [InlineData("*.log", "deep/dir/a.log", false, true)]
    [InlineData("*.log", "a.logx", false, false)]
    [InlineData("/root.txt", "root.txt", false, true)]
    [InlineData("/root.txt", "sub/root.txt", false, false)]
    [InlineData("build/", "build", true, true)]
    [InlineData("build/", "build", false, false)]
    [InlineData("build/", "src/build", true, true)]
    [InlineData("docs/*.md", "docs/a.md", false, true)]
    [InlineData("docs/*.md", "docs/sub/a.md", false, false)]
    [InlineData("docs/*.md", "x/docs/a.md", false, false)]
    [InlineData("**/cache", "a/b/cache", true, true)]
    [InlineData("**/cache", "cache", true, true)]
    [InlineData("a/**/z", "a/z", false, true)]
    [InlineData("a/**/z", "a/b/c/z", false, true)]
    [InlineData("logs/**", "logs/x/y.txt", false, true)]
    [InlineData("file?.txt", "file1.txt", false, true)]
    [InlineData("file?.txt", "file10.txt", false, false)]
    [InlineData("[abc].txt", "b.txt", false, true)]
    [InlineData("[abc].txt", "d.txt", false, false)]
    [InlineData("[!abc].txt", "d.txt", false, true)]
    [InlineData("# comment", "# comment", false, false)]
    [InlineData("\\#hash", "#hash", false, true)]
    public void A_single_rule_matches_as_gitignore_does(string rule, string path, bool isDirectory, bool ignored)
    {
        var matcher = IgnoreMatcher.Create([rule]);

        Assert.Equal(ignored, matcher.IsIgnored(path, isDirectory));
    }

    [Theory]
    [InlineData("Re\u0301sume\u0301s/", "R\u00e9sum\u00e9s", true)] // typed on a Mac: the rule's line in decomposed Unicode
    [InlineData("*.caf\u00e9", "a.cafe\u0301", false)] // the rule composed, and the scan names paths composed too
    [InlineData("[e\u0301]x", "\u00e9x", false)]
    public void A_rule_matches_a_name_whatever_the_Unicode_form_of_the_rule(string rule, string name, bool isDirectory)
    {
        var matcher = IgnoreMatcher.Create([rule]);

        // Paths reach the matcher as the scan names them: composed (NFC).
        Assert.True(matcher.IsIgnored(name.Normalize(System.Text.NormalizationForm.FormC), isDirectory));
    }

    [Fact]
    public void Negation_reincludes_and_the_last_matching_rule_wins()
    {
        var matcher = IgnoreMatcher.Create(["*.log", "!important.log", "", "# only comments", "very/important.log"]);

        Assert.True(matcher.IsIgnored("debug.log", false));
        Assert.False(matcher.IsIgnored("important.log", false));
        Assert.False(matcher.IsIgnored("sub/important.log", false));
        Assert.True(matcher.IsIgnored("very/important.log", false));
    }

    [Theory]
    [InlineData("~$report.docx")]
    [InlineData("dir/.notes.txt.swp")]
    [InlineData("download.part")]
    [InlineData("x.tmp")]
    [InlineData(".~lock.sheet.ods#")]
    [InlineData(".dropbox.tmp-0123abcd")]
    [InlineData("file.crdownload")]
    public void Editor_and_partial_files_are_ignored_by_default(string path)
    {
        Assert.True(IgnoreMatcher.Create([]).IsIgnored(path, false));
    }

    [Theory]
    [InlineData("report.docx")]
    [InlineData("notes.txt")]
    [InlineData(".dropboxignore")]
    [InlineData("tmp/file.txt")]
    public void Ordinary_files_are_not_ignored(string path)
    {
        Assert.False(IgnoreMatcher.Create([]).IsIgnored(path, false));
    }

    [Theory]
    [InlineData("sub", "*.log", "sub/a.log", false, true)]
    [InlineData("sub", "*.log", "a.log", false, false)]
    [InlineData("sub", "*.log", "other/a.log", false, false)]
    [InlineData("sub", "*.log", "sub/deep/a.log", false, true)]
    [InlineData("sub", "/top.txt", "sub/top.txt", false, true)]
    [InlineData("sub", "/top.txt", "sub/deep/top.txt", false, false)]
    [InlineData("sub", "deep/*.txt", "sub/deep/x.txt", false, true)]
    [InlineData("sub", "deep/*.txt", "sub/other/deep/x.txt", false, false)]
    [InlineData("sub", "**/cache/", "sub/a/b/cache", true, true)]
    [InlineData("sub", "**/cache/", "sub/a/b/cache", false, false)]
    [InlineData("sub", "out/", "sub/x/out", true, true)]
    [InlineData("a/b", "c", "a/bc", false, false)]
    public void A_nested_file_s_patterns_are_relative_to_its_folder(string folder, string rule, string path, bool isDirectory, bool ignored)
    {
        var matcher = IgnoreMatcher.BuiltIn.WithFile(folder, [rule]);

        Assert.Equal(ignored, matcher.IsIgnored(path, isDirectory));
    }

    [Fact]
    public void A_deeper_file_overrides_a_shallower_one_in_both_directions()
    {
        var root = IgnoreMatcher.Create(["*.log", "notes.txt"]);
        var sub = root.WithFile("sub", ["!keep.log", "*.txt"]);

        Assert.True(sub.IsIgnored("sub/debug.log", false));
        Assert.False(sub.IsIgnored("sub/keep.log", false));
        Assert.True(sub.IsIgnored("sub/readme.txt", false));
        Assert.True(root.IsIgnored("keep.log", false));
        Assert.False(root.IsIgnored("readme.txt", false));
    }

    [Fact]
    public void The_tree_ignores_everything_below_an_ignored_folder_even_against_a_deeper_negation()
    {
        var root = IgnoreMatcher.Create(["build/"]);
        var tree = new IgnoreTree(root);
        tree.Set("build", root.WithFile("build", ["!*"]));
        tree.Set("docs", root.WithFile("docs", ["drafts/", "*.bak"]));

        Assert.True(tree.IsIgnored("build/out/app.bin", false));
        Assert.True(tree.IsIgnored("docs/drafts/one.md", false));
        Assert.True(tree.IsIgnored("docs/x/old.bak", false));
        Assert.False(tree.IsIgnored("docs/x/new.md", false));
        Assert.False(tree.IsIgnored("other/old.bak", false));
        Assert.True(tree.IsIgnored("a/.#lock", false));
        Assert.False(tree.IsIgnored("docs", true));
    }
    [Fact]
    public void Every_built_in_rule_is_matched_as_plain_text_and_answers_as_its_regex()
    {
        // The literal path is what a scan of many files runs per path; a rule that fell back to the regex, or that
        // answered otherwise than its regex, fails here.
        string[] paths =
        [
            "a.swp", "d/a.swp", "a.swpx", ".swp", "x.tmp", "d/e/x.tmp", "tmp", "~$doc.docx", "d/~$x", "x~$", ".~lock.a.odt#",
            ".~lock.#", ".~lock#", "d/.~lock.b", "f.part", "f.partial", "f.crdownload", "a~", "~", ".#x", "4913", "d/4913", "49130",
            ".DS_Store", "d/.DS_Store", "x.DS_Store", "Thumbs.db", "desktop.ini", ".dropbox.tmp-1", "d/.dropbox.tmp-abc",
            Dropbox.SyncClient.Sync.FolderIdentity.MarkerName, "d/" + Dropbox.SyncClient.Sync.FolderIdentity.MarkerName,
            "plain.txt", "d/e/plain.bin", "a.swp\n", "Thumbs.db\n", "4913\n", string.Empty,
        ];
        foreach (var rule in IgnoreMatcher.BuiltIn.Rules)
        {
            Assert.NotNull(rule.Literal);
            foreach (var path in paths)
            {
                Assert.True(rule.Regex.IsMatch(path) == rule.IsMatch(path), $"rule '{rule.Pattern}' on '{path}'");
            }
        }
    }

    [Theory]
    [InlineData("*.log", true)]
    [InlineData("build", true)]
    [InlineData("pre*", true)]
    [InlineData("a*b", true)]
    [InlineData("/top/name", true)]
    [InlineData("docs/*.md", false)]
    [InlineData("**/cache", false)]
    [InlineData("a**b", false)]
    [InlineData("file?.txt", false)]
    [InlineData("[abc].txt", false)]
    [InlineData("\\#hash", true)]
    [InlineData("a\\*b", false)]
    public void A_rule_is_plain_text_only_when_its_regex_is_and_then_answers_alike(string line, bool literal)
    {
        var rule = IgnoreMatcher.Compile(line)!;
        string[] paths = ["x.log", "d/x.log", "log", "build", "d/build", "buildx", "prefix", "d/pre", "ab", "axb", "d/ab/c", "a/b", "top/name", "d/top/name", "top/name/x", "docs/a.md", "cache", "a/cache", "fileX.txt", "b.txt", "#hash"];

        Assert.Equal(literal, rule.Literal is not null);
        foreach (var path in paths)
        {
            Assert.True(rule.Regex.IsMatch(path) == rule.IsMatch(path), $"rule '{line}' on '{path}'");
        }
    }
}
