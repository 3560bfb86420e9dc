using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The uploader avoids a node that did not answer only briefly, and plans a group again only when that
/// group's own put found its node full or down.
/// </summary>
public sealed class UploaderAvoidNodesTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_node_that_did_not_answer_a_put_is_avoided_for_a_short_while_not_for_the_rest_of_the_pass()
    {
        // Arrange: n1 fails the first put it gets as unavailable (a slow batch), then answers again.
        using var a = new TestClient(_dir, "a", _server);
        var clock = new ManualClock();
        var ctx = WithClock(a.Context, clock);
        var failOnce = true;
        _server.BeforePut = url =>
        {
            if (url == FakeServer.NodeUrl && failOnce)
            {
                failOnce = false;
                throw new DropboxException(ErrorKind.Unavailable, "put timed out");
            }

            return Task.CompletedTask;
        };
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(ctx, new SyncSummary(), slots, new FileHasher(ctx.Chunker));

        // Act: one file (its group fails on n1 and is planned again), another 10 s later, a third after the bound.
        Assert.Equal(UploadOutcome.Committed, (await uploader.UploadOneAsync(Action(a, "a.bin", 1), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30))).Outcome);
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(UploadOutcome.Committed, (await uploader.UploadOneAsync(Action(a, "b.bin", 2), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30))).Outcome);
        clock.Advance(AvoidedNodes.UnavailableFor);
        Assert.Equal(UploadOutcome.Committed, (await uploader.UploadOneAsync(Action(a, "c.bin", 3), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30))).Outcome);

        // Assert: a.bin planned twice (the second time avoiding n1), b.bin still avoiding it, c.bin no longer.
        Assert.Equal(["", "n1", "n1", ""], _server.AvoidNodesSeen);
    }

    [Fact]
    public async Task A_group_whose_commit_failed_is_not_planned_again_because_another_group_found_a_node_down_meanwhile()
    {
        // Arrange: while this group is planned, another group's put to n9 times out (n9 joins the shared avoid set);
        // this group's own puts land, but its CommitFiles call fails as unavailable.
        using var a = new TestClient(_dir, "a", _server);
        var avoided = new AvoidedNodes(TimeProvider.System);
        _server.BeforePlanUpload = _ => avoided.AddUnavailable("n9");
        _server.FailCommitFiles = ErrorKind.Unavailable;
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, new FileHasher(a.Context.Chunker), avoidNodes: avoided);

        // Act
        var results = await uploader.UploadAsync([Action(a, "a.bin", 1), Action(a, "b.bin", 2)], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        // Assert: left to be uploaded alone after one plan (not re-read, re-planned and re-put).
        Assert.Equal(2, results.Count(r => r.Outcome is null));
        Assert.Equal(1, _server.PlanUploadsCalls);
    }

    private static SyncAction Action(TestClient client, string name, int seed)
    {
        var path = Path.Combine(client.Context.Folder, name);
        File.WriteAllBytes(path, TestClient.RandomBytes(20_000, seed));
        var info = new FileInfo(path);
        return new SyncAction(SyncActionKind.Upload, name) { Local = new LocalEntry(name, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, SettlesIn: null) };
    }

    private static SyncContext WithClock(SyncContext c, TimeProvider clock) => new()
    {
        Folder = c.Folder, State = c.State, Metadata = c.Metadata, Transfer = c.Transfer, Chunker = c.Chunker,
        Device = c.Device, Options = c.Options, Barrier = c.Barrier, Time = clock,
    };
}
