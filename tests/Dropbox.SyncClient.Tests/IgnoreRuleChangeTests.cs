using System.Security.Cryptography;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A remote file at a path ignored here is never taken and the change feed does not list it again: when the rule goes
/// (its <c>.dropboxignore</c> edited or removed), the next pass lists everything and takes it (<see cref="IgnoreFileMemory"/>).
/// </summary>
public sealed class IgnoreRuleChangeTests : IDisposable
{
    private static readonly byte[] Built = TestClient.RandomBytes(40_000, 8);

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_rule_removed_here_brings_the_remote_files_it_kept_out(bool deleteTheFile)
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        b.Write(".dropboxignore", ".dropboxignore\nbuild/\n"); // this device's own rules: the file is not synced either
        await b.SyncAsync();
        a.Write("build/out.bin", Built);
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.False(File.Exists(b.PathOf("build/out.bin")));
        var quiet = await b.SyncAsync();
        Assert.DoesNotContain(quiet.Notes, n => n.Contains(".dropboxignore", StringComparison.Ordinal));
        var listings = _server.ListFilesCalls;

        if (deleteTheFile)
        {
            File.Delete(b.PathOf(".dropboxignore"));
        }
        else
        {
            b.Write(".dropboxignore", ".dropboxignore\n");
        }

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Equal(Built, File.ReadAllBytes(b.PathOf("build/out.bin")));
        Assert.Contains(pass.Notes, n => n.Contains("a .dropboxignore changed", StringComparison.Ordinal));
        Assert.Equal(listings + 1, _server.ListFilesCalls);
        var after = await b.SyncAsync();
        Assert.Equal(listings + 1, _server.ListFilesCalls); // remembered anew: once
        Assert.Equal(0, after.FilesDownloaded + after.FilesUploaded);
    }

    [Fact]
    public async Task A_rule_removed_while_a_pass_reads_the_server_is_seen_by_the_next_pass()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = await KeptOutAsync(a);
        var once = true;
        _server.ListChangesFault = _ =>
        {
            if (once)
            {
                once = false;
                File.WriteAllText(b.PathOf(".dropboxignore"), ".dropboxignore\n"); // the user's edit while the pass reads the feed
            }

            return null;
        };
        await b.SyncAsync();
        _server.ListChangesFault = null;

        var next = await b.SyncAsync();

        Assert.True(File.Exists(b.PathOf("build/out.bin")), "build/out.bin never downloaded; notes: " + string.Join(" | ", next.Notes));
        Assert.Equal(Built, File.ReadAllBytes(b.PathOf("build/out.bin")));
    }

    [Fact]
    public async Task A_rule_file_removed_while_a_pass_reads_the_server_is_missed_by_neither_pass()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = await KeptOutAsync(a);
        var once = true;
        _server.ListChangesFault = _ =>
        {
            if (once)
            {
                once = false;
                File.Delete(b.PathOf(".dropboxignore")); // after the pass read it again, before its scan
            }

            return null;
        };
        await b.SyncAsync();
        _server.ListChangesFault = null;

        var next = await b.SyncAsync();

        Assert.True(File.Exists(b.PathOf("build/out.bin")), "build/out.bin never downloaded; notes: " + string.Join(" | ", next.Notes));
        Assert.Equal(Built, File.ReadAllBytes(b.PathOf("build/out.bin")));
    }

    [Fact]
    public async Task A_listing_pass_whose_download_failed_lists_again()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = await KeptOutAsync(a);
        File.Delete(b.PathOf(".dropboxignore"));
        _server.BeforeGetChunks = () => throw new DropboxException(ErrorKind.Unavailable, "the node is down for this pass");
        var failed = await b.SyncAsync();
        _server.BeforeGetChunks = null;
        Assert.True(failed.Errors > 0, "the download did not fail");

        var next = await b.SyncAsync();

        Assert.Equal(0, next.Errors);
        Assert.Equal(Built, File.ReadAllBytes(b.PathOf("build/out.bin")));
    }

    [Fact]
    public async Task A_listing_pass_that_holds_its_cursor_for_a_file_still_being_written_lists_again()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = await KeptOutAsync(a);
        File.Delete(b.PathOf(".dropboxignore"));
        b.Write("build/out.bin", "written here, still being written"); // at the path the rule kept out: the remote file waits for it
        var held = await b.SyncAsync(new SyncOptions { StableAge = TimeSpan.FromMinutes(10) });
        Assert.Equal(0, held.Errors);
        Assert.Contains(held.Notes, n => n.Contains("build/out.bin", StringComparison.Ordinal) && n.Contains(SyncPlanner.ChangingReason, StringComparison.Ordinal));
        var listings = _server.ListFilesCalls;
        File.Delete(b.PathOf("build/out.bin")); // the writer here gave it up: nothing of it to send

        var next = await b.SyncAsync();

        Assert.Equal(0, next.Errors);
        Assert.True(File.Exists(b.PathOf("build/out.bin")), "build/out.bin never downloaded; notes: " + string.Join(" | ", next.Notes));
        Assert.Equal(Built, File.ReadAllBytes(b.PathOf("build/out.bin")));
        Assert.Equal(listings + 1, _server.ListFilesCalls);
    }

    [Fact]
    public async Task Listings_for_a_removed_rule_that_keep_holding_their_cursor_come_at_most_once_an_interval()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = await KeptOutAsync(a);
        var engine = b.EngineWith(new SyncOptions { StableAge = TimeSpan.FromMinutes(10) }); // a daemon's engine: one for its passes
        File.Delete(b.PathOf(".dropboxignore"));
        var listings = _server.ListFilesCalls;
        for (var i = 0; i < 4; i++)
        {
            b.Write("build/out.bin", $"written here, still being written ({i})"); // the remote file at its path waits for it
            var held = await engine.RunPassAsync(CancellationToken.None);
            Assert.Equal(0, held.Errors);
            Assert.Contains(held.Notes, n => n.Contains("build/out.bin", StringComparison.Ordinal) && n.Contains(SyncPlanner.ChangingReason, StringComparison.Ordinal));
        }

        Assert.Equal(listings + 1, _server.ListFilesCalls); // one listing, not one a pass

        File.Delete(b.PathOf("build/out.bin")); // the writer gave it up
        var quiet = await engine.RunPassAsync(CancellationToken.None); // within the interval: no listing, the rule still due one
        Assert.Equal(listings + 1, _server.ListFilesCalls);
        Assert.False(File.Exists(b.PathOf("build/out.bin")));
        engine.HeldRuleListingInterval = TimeSpan.Zero; // the interval past

        var next = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, quiet.Errors + next.Errors);
        Assert.Equal(listings + 2, _server.ListFilesCalls);
        Assert.True(File.Exists(b.PathOf("build/out.bin")), "build/out.bin never downloaded; notes: " + string.Join(" | ", next.Notes));
        Assert.Equal(Built, File.ReadAllBytes(b.PathOf("build/out.bin")));
    }

    [Fact]
    public async Task A_new_ignore_file_below_whose_negation_undoes_a_rule_above_brings_the_remote_files_it_lets_in()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        b.Write(".dropboxignore", ".dropboxignore\n*.log\n");
        await b.SyncAsync();
        a.Write("sub/x.log", Built);
        a.Write("sub/y.log", "still ignored");
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();
        Assert.False(File.Exists(b.PathOf("sub/x.log")));
        var listings = _server.ListFilesCalls;

        b.Write("sub/.dropboxignore", "!x.log\n"); // a nested file's rule overrides the root's for its subtree
        var first = await b.SyncAsync();
        var second = await b.SyncAsync();

        Assert.Equal(0, first.Errors + second.Errors);
        Assert.True(File.Exists(b.PathOf("sub/x.log")), "sub/x.log never downloaded; notes: " + string.Join(" | ", first.Notes.Concat(second.Notes)));
        Assert.Equal(Built, File.ReadAllBytes(b.PathOf("sub/x.log")));
        Assert.False(File.Exists(b.PathOf("sub/y.log")));
        Assert.Equal(listings + 1, _server.ListFilesCalls);
        var quiet = await b.SyncAsync();
        Assert.Equal(listings + 1, _server.ListFilesCalls); // one listing, not one a pass
        Assert.Equal(0, quiet.FilesDownloaded + quiet.FilesUploaded);
    }

    [Fact]
    public void A_new_ignore_file_with_a_negation_is_remembered_as_due_a_listing_unless_the_pass_listed()
    {
        byte[] negates = [(byte)'!', (byte)'x'];
        var hash = Convert.ToHexString(SHA256.HashData(negates));
        var files = new Dictionary<string, byte[]> { ["sub/.dropboxignore"] = negates };

        var rules = IgnoreFileMemory.RuleText(negates);
        var unlisted = IgnoreFileMemory.Describe([("sub", hash, true, rules, null, true)], new Dictionary<string, RememberedRules>(), listed: false).Text;
        var listed = IgnoreFileMemory.Describe([("sub", hash, true, rules, null, true)], new Dictionary<string, RememberedRules>(), listed: true).Text;
        var remembered = IgnoreFileMemory.Describe([("sub", hash, true, rules, null, true)], new Dictionary<string, RememberedRules> { ["sub"] = new(hash, rules, null) }, listed: false).Text;
        var plain = IgnoreFileMemory.Describe([("sub", hash, false, rules, null, true)], new Dictionary<string, RememberedRules>(), listed: false).Text;

        Assert.True(IgnoreFileMemory.Check(unlisted, Read(files)).Changed);
        Assert.False(IgnoreFileMemory.Check(listed, Read(files)).Changed);
        Assert.False(IgnoreFileMemory.Check(remembered, Read(files)).Changed);
        Assert.False(IgnoreFileMemory.Check(plain, Read(files)).Changed);
    }

    private async Task<TestClient> KeptOutAsync(TestClient a)
    {
        var b = new TestClient(_dir, "b", _server);
        b.Write(".dropboxignore", ".dropboxignore\nbuild/\n");
        await b.SyncAsync();
        a.Write("build/out.bin", Built);
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();
        Assert.False(File.Exists(b.PathOf("build/out.bin")));
        return b;
    }

    [Fact]
    public void A_remembered_file_that_reads_otherwise_or_not_at_all_is_a_change()
    {
        byte[] root = [1, 2, 3];
        byte[] nested = [4, 5];
        var stored = IgnoreFileMemory.Describe([(string.Empty, Convert.ToHexString(SHA256.HashData(root)), false, string.Empty, null, true), ("docs/old", Convert.ToHexString(SHA256.HashData(nested)), false, string.Empty, null, true)]).Text;
        var files = new Dictionary<string, byte[]> { [".dropboxignore"] = root, ["docs/old/.dropboxignore"] = nested };

        Assert.False(IgnoreFileMemory.Check(stored, Read(files)).Changed);
        Assert.False(IgnoreFileMemory.Check(null, Read(files)).Changed); // nothing remembered (a db from before): no listing
        Assert.False(IgnoreFileMemory.Check(string.Empty, Read(files)).Changed); // no ignore file last pass

        files["docs/old/.dropboxignore"] = [4, 6];
        Assert.True(IgnoreFileMemory.Check(stored, Read(files)).Changed);
        files.Remove("docs/old/.dropboxignore");
        Assert.True(IgnoreFileMemory.Check(stored, Read(files)).Changed);
        Assert.True(IgnoreFileMemory.Check("not a line this build wrote", Read(files)).Changed);
    }

    /// <summary>A reader of the ignore files in <paramref name="files"/> (by path): a path not in it is gone, not refused.</summary>
    private static Func<string, (byte[]?, string?, IgnoreFileStamp?)> Read(Dictionary<string, byte[]> files) => p => (files.GetValueOrDefault(p), null, null);
}
