using Dropbox.Shared.Errors;
using Dropbox.Shared.Sync;

namespace Dropbox.Shared.Tests.Sync;

public sealed class ChangeCursorTests
{
    [Theory]
    [InlineData("alice", 0UL, 0UL)]
    [InlineData("bob-2", 42UL, 7UL)]
    [InlineData("x", ulong.MaxValue, ulong.MaxValue)]
    public void A_cursor_round_trips_through_its_string_form(string ns, ulong sequence, ulong epoch)
    {
        var cursor = new ChangeCursor(ns, sequence, epoch);

        Assert.Equal(cursor, ChangeCursor.Parse(cursor.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a cursor!")]
    [InlineData("AAAA")]
    [InlineData("AgAAAAAAAAAAAAAAAAAAAAAAYWxpY2U")] // format version 2
    public void Garbage_is_refused_as_invalid_argument(string text)
    {
        var ex = Assert.Throws<DropboxException>(() => ChangeCursor.Parse(text));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.StartsWith("Unknown cursor", ex.Message);
    }
}
