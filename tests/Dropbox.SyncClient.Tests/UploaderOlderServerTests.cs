using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;
using Grpc.Core;

namespace Dropbox.SyncClient.Tests;

/// <summary>Uploads to a metadata node without PlanChunks (an older server): files are planned whole, by PlanUpload.</summary>
public sealed class UploaderOlderServerTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new() { WithoutPlanChunks = true };

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_of_more_chunks_than_one_batched_plan_carries_uploads_whole()
    {
        using var a = new TestClient(_dir, "a", _server, chunker: _ => new FixedSizeChunkSource(4096));
        var bytes = TestClient.RandomBytes((RemoteBounds.MaxChunksPerPlanCall + 104) * 4096, 7);
        a.Write("big.bin", bytes);
        File.SetLastWriteTimeUtc(a.PathOf("big.bin"), DateTime.UtcNow.AddMinutes(-5));

        var up = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(120));

        Assert.True(up.Errors == 0, string.Join(" | ", up.ErrorMessages));
        Assert.Equal(1, up.FilesUploaded);
        using var b = new TestClient(_dir, "b", _server, chunker: _ => new FixedSizeChunkSource(4096));
        var down = await b.SyncAsync().WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(down.Errors == 0, string.Join(" | ", down.ErrorMessages));
        Assert.Equal(bytes, File.ReadAllBytes(b.PathOf("big.bin")));
    }

    [Fact]
    public async Task A_group_too_large_for_one_answer_is_planned_file_by_file_and_only_the_file_too_large_for_the_server_fails()
    {
        // Small files are hashed and planned together; the group's plan is refused as too large, so the files go to
        // windows, whose first PlanChunks finds the server without it: each file is then planned alone.
        _server.MaxPutsPerPlan = 4;
        using var a = new TestClient(_dir, "a", _server, chunker: _ => new FixedSizeChunkSource(4096));
        var files = Enumerable.Range(0, 3).ToDictionary(i => $"f{i}.bin", i => TestClient.RandomBytes(3 * 4096, 10 + i));
        var large = TestClient.RandomBytes(6 * 4096, 20);
        foreach (var (name, bytes) in files.Append(new("large.bin", large)))
        {
            a.Write(name, bytes);
            File.SetLastWriteTimeUtc(a.PathOf(name), DateTime.UtcNow.AddMinutes(-5));
        }

        var up = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(3, up.FilesUploaded);
        using var b = new TestClient(_dir, "b", _server, chunker: _ => new FixedSizeChunkSource(4096));
        await b.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));
        foreach (var (name, bytes) in files)
        {
            Assert.Equal(bytes, File.ReadAllBytes(b.PathOf(name)));
        }

        Assert.Null(_server.Current("large.bin"));
        var error = Assert.Single(up.ErrorMessages);
        Assert.Contains("large.bin", error);
        Assert.Contains("MaxPutsPerPlan", error);
    }

    [Fact]
    public async Task A_commit_failing_in_a_group_committed_file_by_file_keeps_the_commits_before_it()
    {
        // No PlanUploads/CommitFiles either: a group is planned and committed one file at a time.
        _server.BeforePlanUploads = (_, _) => throw new DropboxException(ErrorKind.Internal, "PlanUploads: unimplemented", new RpcException(new Status(StatusCode.Unimplemented, "Method is unimplemented.")));
        using var a = new TestClient(_dir, "a", _server);
        foreach (var (name, seed) in new[] { ("a.txt", 1), ("b.txt", 2), ("c.txt", 3) })
        {
            a.Write(name, TestClient.RandomBytes(3000, seed));
            File.SetLastWriteTimeUtc(a.PathOf(name), DateTime.UtcNow.AddMinutes(-5));
        }

        var committed = new List<string>();
        _server.AfterCommitFile = request =>
        {
            lock (committed)
            {
                committed.Add(request.Path);
                if (committed.Count != 2)
                {
                    return null;
                }
            }

            // The user edits the file committed first; the second commit's answer is lost.
            File.WriteAllText(a.PathOf(committed[0]), "the user's newest edit, of another size");
            return new DropboxException(ErrorKind.Unavailable, "connection reset (the answer was lost)");
        };

        await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var first = committed[0];
        Assert.NotNull(a.State.GetFile(first)); // its commit was recorded: the server's version is this device's own
        _server.AfterCommitFile = null;
        var second = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, second.Conflicts);
        Assert.Equal("the user's newest edit, of another size", File.ReadAllText(a.PathOf(first)));
        Assert.Equal(3, Directory.GetFiles(a.Folder).Count(f => !Path.GetFileName(f).StartsWith('.')));
    }
}
