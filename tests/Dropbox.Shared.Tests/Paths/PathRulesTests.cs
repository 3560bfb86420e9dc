using Dropbox.Shared.Errors;
using Dropbox.Shared.Paths;

namespace Dropbox.Shared.Tests.Paths;

public sealed class PathRulesTests
{
    [Theory]
    [InlineData("a.txt")]
    [InlineData("docs/report 2024.pdf")]
    [InlineData("a/b/c/d.e.f")]
    [InlineData("...hidden")]
    [InlineData("..x/x..")]
    [InlineData("emoji \U0001F600/日本語.txt")]
    [InlineData("C:")]
    public void Valid_paths_are_accepted_unchanged(string path)
    {
        Assert.Equal(path, PathRules.Normalize(path));
        Assert.True(PathRules.TryNormalize(path, out var normalized, out var error));
        Assert.Equal(path, normalized);
        Assert.Null(error);
    }

    [Fact]
    public void Decomposed_names_are_normalized_to_nfc()
    {
        var nfd = "cafe\u0301/Re\u0301sume\u0301.txt";

        var normalized = PathRules.Normalize(nfd);

        Assert.Equal("caf\u00E9/R\u00E9sum\u00E9.txt", normalized);
        Assert.Equal(PathRules.Normalize("caf\u00E9/R\u00E9sum\u00E9.txt"), normalized);
    }

    [Theory]
    [InlineData("", "Empty path")]
    [InlineData("/etc/passwd", "Absolute path")]
    [InlineData("/", "Absolute path")]
    [InlineData("a//b", "empty segment")]
    [InlineData("a/b/", "ends with '/'")]
    [InlineData("./a", "'.' segment")]
    [InlineData("a/./b", "'.' segment")]
    [InlineData("..", "'..' segment")]
    [InlineData("a/../../etc", "'..' segment")]
    [InlineData("a\\b", "backslash")]
    [InlineData("a\u0000b", "control character (U+0000)")]
    [InlineData("a\nb", "control character (U+000A)")]
    [InlineData("a\u007Fb", "control character (U+007F)")]
    [InlineData("a\u0085b", "control character (U+0085)")]
    public void Invalid_paths_are_refused_with_a_message_naming_the_rule(string path, string expected)
    {
        var ex = Assert.Throws<DropboxException>(() => PathRules.Normalize(path));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains(expected, ex.Message);
        Assert.False(PathRules.TryNormalize(path, out _, out var error));
        Assert.Equal(ex.Message, error);
    }

    [Fact]
    public void Unpaired_surrogates_are_refused()
    {
        // Built here, not in [InlineData], because test discovery would replace a lone surrogate with U+FFFD.
        var path = "a" + (char)0xD800 + "b";

        var ex = Assert.Throws<DropboxException>(() => PathRules.Normalize(path));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains("unpaired surrogate U+D800", ex.Message);
    }

    [Fact]
    public void Null_path_is_refused()
    {
        var ex = Assert.Throws<DropboxException>(() => PathRules.Normalize(null!));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
    }

    [Fact]
    public void A_segment_of_255_bytes_is_accepted_and_256_refused()
    {
        var ok = new string('x', 255);
        var tooLong = new string('x', 256);
        var multiByte = new string('é', 128); // 256 UTF-8 bytes in 128 characters

        Assert.Equal("d/" + ok, PathRules.Normalize("d/" + ok));
        var ex = Assert.Throws<DropboxException>(() => PathRules.Normalize("d/" + tooLong));
        var ex2 = Assert.Throws<DropboxException>(() => PathRules.Normalize(multiByte));

        Assert.Contains("segment too long", ex.Message);
        Assert.Contains("256 UTF-8 bytes", ex.Message);
        Assert.Contains("segment too long", ex2.Message);
    }

    [Fact]
    public void A_path_of_4096_bytes_is_accepted_and_4097_refused()
    {
        var prefix = string.Join('/', Enumerable.Repeat(new string('x', 200), 20)); // 4019 bytes
        var at4096 = prefix + "/" + new string('y', 76);
        var at4097 = prefix + "/" + new string('y', 77);

        Assert.Equal(at4096, PathRules.Normalize(at4096));
        var ex = Assert.Throws<DropboxException>(() => PathRules.Normalize(at4097));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains("Path too long: 4097 UTF-8 bytes", ex.Message);
    }

    [Fact]
    public void Case_fold_keys_match_names_that_clash_on_case_insensitive_systems()
    {
        var a = PathRules.CaseFoldKey(PathRules.Normalize("Docs/Report.TXT"));
        var b = PathRules.CaseFoldKey(PathRules.Normalize("docs/report.txt"));
        var c = PathRules.CaseFoldKey(PathRules.Normalize("docs/report2.txt"));
        var d = PathRules.CaseFoldKey(PathRules.Normalize("CAFE\u0301"));
        var e = PathRules.CaseFoldKey(PathRules.Normalize("caf\u00E9"));

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(d, e);
    }
}
