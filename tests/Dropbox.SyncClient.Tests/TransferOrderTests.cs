using System.Diagnostics;

namespace Dropbox.SyncClient.Tests;

/// <summary>A pass's downloads do not wait for its uploads to end.</summary>
public sealed class TransferOrderTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_edit_is_downloaded_while_the_same_pass_uploads_a_local_edit()
    {
        // Arrange: both devices have x.txt and y.bin; a edits x.txt, b edits y.bin.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        await RemoteEditThereLocalEditHereAsync(a, b);

        // The upload's plan is held until x.txt's new content is on b's disk (at most 15 s).
        bool? downloadedMeanwhile = null;
        _server.BeforePlanUpload = path =>
        {
            if (path != "y.bin" || downloadedMeanwhile is not null)
            {
                return;
            }

            var held = Stopwatch.StartNew();
            while (held.Elapsed < TimeSpan.FromSeconds(15) && !(File.Exists(b.PathOf("x.txt")) && File.ReadAllText(b.PathOf("x.txt")) == "the remote edit"))
            {
                Thread.Sleep(20);
            }

            downloadedMeanwhile = File.ReadAllText(b.PathOf("x.txt")) == "the remote edit";
        };

        // Act
        var pass = await b.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));

        // Assert
        Assert.True(downloadedMeanwhile, "x.txt was downloaded only after y.bin's upload ended");
        Assert.Equal(0, pass.Errors);
        Assert.Equal("the remote edit", b.Read("x.txt"));
        Assert.Equal(60_000UL, _server.Current("y.bin")!.Size);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // a cancellation the pass did not ask for (a download's own timeout) is logged too
    public async Task When_the_uploader_and_a_download_both_fail_unexpectedly_the_pass_reports_the_uploaders_failure_and_logs_the_other(bool downloadCancelled)
    {
        // Arrange: as above, b has a remote edit of x.txt to download and a local edit of y.bin to upload; the fetch of
        // x.txt's chunk throws, then y.bin's plan throws (both unexpected: neither is a DropboxException or an I/O error).
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        await RemoteEditThereLocalEditHereAsync(a, b);

        using var downloadFailed = new ManualResetEventSlim();
        _server.BeforeGetChunks = () =>
        {
            downloadFailed.Set();
            throw downloadCancelled ? new OperationCanceledException("the download's bug") : new InvalidOperationException("the download's bug");
        };
        _server.BeforePlanUpload = path =>
        {
            if (path == "y.bin")
            {
                downloadFailed.Wait(TimeSpan.FromSeconds(15));
                throw new InvalidOperationException("the uploader's bug");
            }
        };

        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var engine = b.EngineWith(b.Context.Options, log.Enqueue);

        // Act
        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => engine.RunPassAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        // Assert: the uploader's failure is the pass's (it used to be replaced by the download's); the other is logged.
        Assert.True(downloadFailed.IsSet, "the download never started");
        Assert.Contains("the uploader's bug", thrown.ToString());
        Assert.Contains(log, line => line.Contains("the download's bug"));
    }

    /// <summary>Both devices have x.txt and y.bin; a edits x.txt (synced), b edits y.bin (not yet).</summary>
    private static async Task RemoteEditThereLocalEditHereAsync(TestClient a, TestClient b)
    {
        a.Write("x.txt", "first");
        a.Write("y.bin", TestClient.RandomBytes(50_000, 1));
        foreach (var name in new[] { "x.txt", "y.bin" })
        {
            File.SetLastWriteTimeUtc(a.PathOf(name), DateTime.UtcNow.AddMinutes(-5));
        }

        await a.SyncAsync();
        await b.SyncAsync();
        a.Write("x.txt", "the remote edit");
        File.SetLastWriteTimeUtc(a.PathOf("x.txt"), DateTime.UtcNow.AddMinutes(-4));
        await a.SyncAsync();
        b.Write("y.bin", TestClient.RandomBytes(60_000, 2));
        File.SetLastWriteTimeUtc(b.PathOf("y.bin"), DateTime.UtcNow.AddMinutes(-4));
    }
}
