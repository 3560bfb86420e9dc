using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A <c>.dropboxignore</c> is read only when it is a regular file of a bounded size (<see cref="IgnoreFileRead"/>): a FIFO
/// would block the read until a writer came (the pass hung), a device could be read without end.
/// </summary>
public sealed class IgnoreFileReadTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_fifo_named_dropboxignore_is_not_read_and_the_pass_syncs_the_rest()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // mkfifo, and a FIFO opened for reading and writing at once does not block (to let a stuck pass go)
        }

        using var a = new TestClient(_dir, "a", _server);
        a.Write("ok.txt", "fine");
        await SpecialFileTests.MkFifoAsync(a.PathOf(".dropboxignore"));

        var pass = await PassAsync(a, a.PathOf(".dropboxignore"));

        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, pass.FilesUploaded);
        Assert.NotNull(_server.Current("ok.txt"));
        Assert.Contains(pass.Notes, n => n.Contains(".dropboxignore: not read", StringComparison.Ordinal) && n.Contains("not a regular file", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_remembered_dropboxignore_replaced_by_a_fifo_is_not_read_at_the_passs_start()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server);
        a.Write(".dropboxignore", ".dropboxignore\n*.log\n");
        await a.SyncAsync(); // remembered: the next pass reads it again before it reads the server
        File.Delete(a.PathOf(".dropboxignore"));
        await SpecialFileTests.MkFifoAsync(a.PathOf(".dropboxignore"));
        a.Write("ok.txt", "fine");

        var pass = await PassAsync(a, a.PathOf(".dropboxignore"));

        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, pass.FilesUploaded);
        Assert.NotNull(_server.Current("ok.txt"));
    }

    [Fact]
    public async Task A_dropboxignore_linked_to_a_device_is_not_read()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server);
        a.Write("ok.txt", "fine");
        File.CreateSymbolicLink(a.PathOf(".dropboxignore"), "/dev/null"); // read endlessly were it /dev/zero

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, pass.FilesUploaded);
        Assert.Contains(pass.Notes, n => n.Contains(".dropboxignore: not read", StringComparison.Ordinal) && n.Contains("not a regular file", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_dropboxignore_larger_than_the_bound_is_not_read_and_a_link_to_a_regular_one_is()
    {
        using var a = new TestClient(_dir, "a", _server);
        var rules = "x.log\n" + new string('#', IgnoreFileRead.MaxBytes); // a comment beyond the bound
        a.Write("sub/.dropboxignore", rules);
        a.Write("sub/x.log", "not ignored: its rules are not applied");
        a.Write("linked/rules.txt", "y.log\n");
        File.CreateSymbolicLink(a.PathOf("linked/.dropboxignore"), "rules.txt");
        a.Write("linked/y.log", "ignored through the link");

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Contains(pass.Notes, n => n.Contains("sub/.dropboxignore: not read", StringComparison.Ordinal) && n.Contains("MiB", StringComparison.Ordinal));
        Assert.NotNull(_server.Current("sub/x.log"));
        Assert.Null(_server.Current("linked/y.log"));
    }

    /// <summary>One pass of <paramref name="client"/>; should it block on the FIFO, the FIFO is opened for writing (which lets the read end) and the test fails.</summary>
    private static async Task<SyncSummary> PassAsync(TestClient client, string fifo)
    {
        // Run off this thread: the pass's first look at the ignore files comes before its first await.
        var pass = Task.Run(() => client.Engine.RunPassAsync(CancellationToken.None));
        if (await Task.WhenAny(pass, Task.Delay(TimeSpan.FromSeconds(60))) == pass)
        {
            return await pass;
        }

        for (var i = 0; i < 20 && !pass.IsCompleted; i++)
        {
            File.OpenHandle(fifo, FileMode.Open, FileAccess.ReadWrite).Dispose(); // each blocked read gets its end of file
            await Task.WhenAny(pass, Task.Delay(TimeSpan.FromSeconds(1)));
        }

        _ = pass.Exception;
        Assert.Fail("the pass blocked reading the FIFO named .dropboxignore");
        return null!;
    }
}
