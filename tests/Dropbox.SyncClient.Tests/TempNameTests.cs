using System.Text;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>The client's own hidden names: temp files the sweep removes, and holding names it never does.</summary>
public sealed class TempNameTests
{
    [Fact]
    public void A_holding_name_carries_the_name_of_the_file_it_holds_and_is_never_swept()
    {
        var holding = TempName.NewDisplaced("report (final).v2.txt");

        Assert.True(TempName.IsDisplaced(holding, out var original));
        Assert.Equal("report (final).v2.txt", original);
        Assert.False(TempName.IsOwn(holding));
        Assert.True(IgnoreMatcher.BuiltIn.IsIgnored(holding, isDirectory: false));
    }

    [Fact]
    public void A_holding_name_for_a_name_too_long_to_carry_fits_a_file_name_and_carries_none()
    {
        var longName = new string('é', 120) + ".txt"; // 244 bytes: fits alone, not after the holding prefix

        var holding = TempName.NewDisplaced(longName);

        Assert.True(Encoding.UTF8.GetByteCount(holding) <= 255);
        Assert.True(TempName.IsDisplaced(holding, out var original));
        Assert.Null(original);
    }

    [Theory]
    [InlineData(".dropbox.tmp-0123456789abcdef0123456789abcdef")] // a download's temp file: swept, not kept
    [InlineData(".dropbox.tmp-displaced-0123456789abcdef")]
    [InlineData(".dropbox.tmp-displaced-0123456789ABCDEF0123456789abcdef-x.txt")]
    [InlineData(".dropbox.tmp-displaced-0123456789abcdef0123456789abcdefx.txt")]
    [InlineData(".dropbox.tmp-displaced-0123456789abcdef0123456789abcdef-")]
    public void Other_names_are_not_holding_names(string name)
    {
        Assert.False(TempName.IsDisplaced(name, out _));
    }
}
