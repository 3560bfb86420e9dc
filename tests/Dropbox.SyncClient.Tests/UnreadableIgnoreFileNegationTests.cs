using System.Security.Cryptography;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// An unreadable <c>.dropboxignore</c> whose remembered rules are applied without their '!' lines (review ign2): what a
/// dropped line let in and changed remotely meanwhile is skipped, so once the file reads again (the same bytes) the pass
/// lists everything and takes it.
/// </summary>
public sealed class UnreadableIgnoreFileNegationTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_change_to_a_negated_path_made_while_the_negation_was_dropped_comes_down_once_it_is_readable_again()
    {
        const string rules = ".dropboxignore\n*.log\n!keep.log\n";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(".dropboxignore", rules);
        a.Write("keep.log", "v1");
        await a.SyncAsync();
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.Equal("v1", b.Read("keep.log"));

        // a's ignore file is not provably the file read (here: a folder in its place; alike: touched, replaced with the same
        // bytes, another device number after a remount, no statx): its '!' line is dropped while it cannot be read.
        File.Delete(a.PathOf(".dropboxignore"));
        Directory.CreateDirectory(a.PathOf(".dropboxignore"));
        var partial = await a.SyncAsync();
        Assert.Contains(partial.Notes, n => n.Contains("but for their '!' lines", StringComparison.Ordinal));

        b.Write("keep.log", "v2 from b");
        await b.SyncAsync();
        var skipped = await a.SyncAsync(); // keep.log ignored here: b's change is skipped, the cursor moves on

        Directory.Delete(a.PathOf(".dropboxignore"));
        a.Write(".dropboxignore", rules); // readable again, the very same bytes
        var readable = await a.SyncAsync();
        var again = await a.SyncAsync();

        Assert.Equal(0, partial.Errors + skipped.Errors + readable.Errors + again.Errors);
        Assert.True(a.Read("keep.log") == "v2 from b", $"a's keep.log is '{a.Read("keep.log")}'; notes: " + string.Join(" | ", skipped.Notes.Concat(readable.Notes).Concat(again.Notes)));
    }

    [Fact]
    public void Rules_applied_without_a_negation_are_remembered_as_partial_no_change_while_unreadable_a_change_once_read()
    {
        byte[] bytes = "*.log\n!keep.log\n"u8.ToArray();
        var hash = Convert.ToHexString(SHA256.HashData(bytes));
        var row = new RememberedRules(hash, "*.log\n!keep.log", new IgnoreFileStamp(1, 7, bytes.Length, 1000));
        var atStart = new Dictionary<string, RememberedRules> { ["sub"] = row };
        Func<string, (byte[]?, string?, IgnoreFileStamp?)> refused = _ => (null, "not a regular file", null);
        Func<string, (byte[]?, string?, IgnoreFileStamp?)> readable = _ => (bytes, null, row.Stamp);

        var (text, kept, _) = IgnoreFileMemory.Describe([("sub", hash, true, row.Rules!, row.Stamp, false)], atStart, listed: false);
        var remembered = IgnoreFileMemory.Remembered(text, f => f == "sub" ? kept.Single().Row : null);
        var noNegation = IgnoreFileMemory.Describe([("sub", hash, false, "*.log", row.Stamp, false)], atStart, listed: false).Text;

        Assert.Equal(IgnoreFileMemory.Partial + hash + "\tsub", text);
        Assert.Null(kept.Single().Row.Stamp); // its '!' lines stay dropped until it reads again
        Assert.NotNull(remembered("sub"));
        Assert.False(IgnoreFileMemory.Check(text, refused, remembered).Changed);
        Assert.True(IgnoreFileMemory.Check(text, readable, remembered).Changed); // the very same bytes: one full listing
        Assert.Equal(hash + "\tsub", noNegation); // nothing was dropped
    }
}
