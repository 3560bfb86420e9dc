namespace Dropbox.IntegrationTests.Client;

/// <summary>The owner-executable bit between two real clients: set, cleared, and a chmod alone synced.</summary>
[Trait("Category", "Slow")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ExecutableBitTests : IDisposable
{
    private const UnixFileMode Script = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;
    private const UnixFileMode Plain = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_executable_bit_travels_with_the_file_and_a_chmod_alone_syncs_both_ways()
    {
        // Arrange: a script and a plain file on one device.
        using var cluster = await ClientCluster.StartAsync(_dir);
        var alpha = cluster.NewClient("alpha");
        var beta = cluster.NewClient("beta");
        await alpha.LoginAsync();
        await beta.LoginAsync();
        alpha.Write("bin/run.sh", "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(alpha.PathOf("bin/run.sh"), Script);
        alpha.Write("notes.txt", "plain");
        File.SetUnixFileMode(alpha.PathOf("notes.txt"), Plain);
        await alpha.SyncAsync(extra: ["--stable-age", "0"]);

        // Act + Assert: the other device gets the script runnable and the note not.
        var down = await beta.SyncAsync(extra: ["--stable-age", "0"]);
        Assert.Equal(2, down.FilesDownloaded);
        Assert.True(IsExecutable(beta.PathOf("bin/run.sh")), Mode(beta.PathOf("bin/run.sh")));
        Assert.False(IsExecutable(beta.PathOf("notes.txt")), Mode(beta.PathOf("notes.txt")));

        // chmod -x alone (same bytes, same mtime): a new version, no chunk bytes sent, applied on the other device.
        var mtime = File.GetLastWriteTimeUtc(alpha.PathOf("bin/run.sh"));
        File.SetUnixFileMode(alpha.PathOf("bin/run.sh"), Plain);
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(alpha.PathOf("bin/run.sh")));
        var chmod = await alpha.SyncAsync(extra: ["--stable-age", "0"]);
        Assert.Equal(1, chmod.FilesUploaded);
        Assert.Equal(0, chmod.BytesUploaded);
        var history = await alpha.RunAsync("history", "bin/run.sh", "--json");
        Assert.Equal(2, history.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        await beta.SyncAsync(extra: ["--stable-age", "0"]);
        Assert.False(IsExecutable(beta.PathOf("bin/run.sh")), Mode(beta.PathOf("bin/run.sh")));
        Assert.Equal("#!/bin/sh\necho hi\n", beta.Read("bin/run.sh"));

        // chmod +x on the other device comes back; an idle pass after it changes nothing.
        File.SetUnixFileMode(beta.PathOf("notes.txt"), Plain | UnixFileMode.UserExecute);
        Assert.Equal(1, (await beta.SyncAsync(extra: ["--stable-age", "0"])).FilesUploaded);
        await alpha.SyncAsync(extra: ["--stable-age", "0"]);
        Assert.True(IsExecutable(alpha.PathOf("notes.txt")), Mode(alpha.PathOf("notes.txt")));
        var idle = await alpha.SyncAsync(extra: ["--stable-age", "0"]);
        Assert.Equal(0, idle.FilesUploaded + idle.FilesDownloaded);
        var idleBeta = await beta.SyncAsync(extra: ["--stable-age", "0"]);
        Assert.Equal(0, idleBeta.FilesUploaded + idleBeta.FilesDownloaded);
    }

    private static bool IsExecutable(string path) => (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0;

    private static string Mode(string path) => $"{path}: {File.GetUnixFileMode(path)}";
}
