using System.Diagnostics;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Remote;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>
/// A metadata node (a real Kestrel on 127.0.0.1) that takes a call and never answers: every client call has a
/// deadline, and running out of it is the retryable error, never a pass (or a daemon) held for good.
/// </summary>
public sealed class HungServerTests
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Far more than any deadline here: reaching it means the call had none.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_commit_the_server_never_answers_fails_as_retryable_once_its_deadline_passes()
    {
        await using var server = await HostileServer.StartAsync();
        server.World.Hang = true;
        using var channels = ClientChannels.Create(ServerTrust.System);
        var remote = new GrpcMetadataRemote(channels, server.MetadataUrl, "any", CallTimeout);
        var request = new CommitFilesRequest();
        request.Files.Add(new CommitFileRequest { Path = "a.txt" });

        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DropboxException>(() => remote.CommitFilesAsync(request, CancellationToken.None).WaitAsync(Bound));

        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("did not answer in time", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed >= CallTimeout, $"gave up after {clock.Elapsed}, before its deadline");
        await WaitForHungCallsAsync(server, 1);
    }

    [Fact]
    public async Task A_long_poll_gets_its_wait_on_top_of_the_deadline()
    {
        await using var server = await HostileServer.StartAsync();
        server.World.Hang = true;
        using var channels = ClientChannels.Create(ServerTrust.System);
        var remote = new GrpcMetadataRemote(channels, server.MetadataUrl, "any", CallTimeout);

        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DropboxException>(() => remote.ListChangesAsync(new ListChangesRequest { Cursor = "c1", WaitSeconds = 2 }, CancellationToken.None).WaitAsync(Bound));

        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2) + CallTimeout, $"a 2 s long poll gave up after {clock.Elapsed}, within its own wait");
        await WaitForHungCallsAsync(server, 1);
    }

    private static async Task WaitForHungCallsAsync(HostileServer server, int count)
    {
        var clock = Stopwatch.StartNew();
        while (server.World.HungCalls < count)
        {
            Assert.True(clock.Elapsed < Bound, "the server never saw the client give up on the call");
            await Task.Delay(20);
        }
    }
}
