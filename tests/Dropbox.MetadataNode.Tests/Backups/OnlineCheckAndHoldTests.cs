using System.Diagnostics;
using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Backups;

/// <summary>The online check on a checkpoint of a real store, and garbage collection held off by a backup.</summary>
public sealed class OnlineCheckAndHoldTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    private static StoreHarness Harness() => new(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365) });

    [Fact]
    public async Task The_online_check_finds_a_broken_refcount_and_leaves_no_checkpoint_behind()
    {
        // Arrange: a consistent store, then a chunk record whose refcount no version explains.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(1);
        await h.PutFileAsync(alice, "a.txt", 0, chunk);
        var check = new OnlineCheck(h.Store, h.Gateway, h.Options);
        Assert.Empty((await check.RunAsync(verifyChunks: false, CancellationToken.None)).Problems);
        var engine = h.Store.Engine;
        var record = ChunkRecord.Parser.ParseFrom(engine.Get(Keys.Chunk(chunk.Id), engine.Chunks));
        record.Refcount += 4;
        using (var batch = new RecordBatch(engine))
        {
            batch.PutChunk(chunk.Id, record);
            batch.Commit();
        }

        // Act
        var report = await check.RunAsync(verifyChunks: false, CancellationToken.None);

        // Assert: the same finding as the offline check, and the temp checkpoint is gone.
        Assert.Equal(h.Store.CheckConsistency(), report.Problems);
        Assert.Contains(report.Problems, p => p.Contains("refcount 5, retained versions referencing it 1", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(h.Options.DataDirectory, OnlineCheck.TempFolder)));
    }

    [Fact]
    public async Task A_check_whose_cleanup_fails_still_answers_and_the_next_check_runs_and_removes_the_leftover()
    {
        using var h = Harness();
        h.Store.AddUser("alice");
        var calls = 0;
        var check = new OnlineCheck(h.Store, h.Gateway, h.Options)
        {
            // The second removal (the first check's cleanup) fails, as on a folder it may not delete.
            RemoveFolder = folder =>
            {
                if (Interlocked.Increment(ref calls) == 2)
                {
                    throw new IOException("cannot remove " + folder);
                }

                if (Directory.Exists(folder))
                {
                    Directory.Delete(folder, recursive: true);
                }
            },
        };
        var temp = Path.Combine(h.Options.DataDirectory, OnlineCheck.TempFolder);

        var first = await check.RunAsync(verifyChunks: false, CancellationToken.None);
        Assert.Empty(first.Problems);
        Assert.True(Directory.Exists(temp));

        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var second = await check.RunAsync(verifyChunks: false, bounded.Token);

        Assert.Empty(second.Problems);
        Assert.False(Directory.Exists(temp));
    }

    [Fact]
    public async Task The_online_check_with_chunk_verification_reports_a_referenced_chunk_no_live_node_holds()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var kept = StoreHarness.Chunk(1);
        var lost = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "a.txt", 0, kept, lost);
        var check = new OnlineCheck(h.Store, h.Gateway, h.Options);
        var before = await check.RunAsync(verifyChunks: true, CancellationToken.None);
        Assert.Empty(before.Problems);
        Assert.Equal(2, before.ChunksVerified);

        // The node loses one chunk's bytes behind the metadata node's back.
        await h.Gateway.DeleteChunksAsync(h.Store.Nodes.Require(StoreHarness.NodeA), [lost.Id], CancellationToken.None);

        var after = await check.RunAsync(verifyChunks: true, CancellationToken.None);

        var problem = Assert.Single(after.Problems);
        Assert.Contains($"chunk {lost.Id.ToShortString()}: referenced by 1 version(s) but held by no live storage node (recorded on: {StoreHarness.NodeA})", problem, StringComparison.Ordinal);
        Assert.Equal(1, after.ChunksVerified);
    }

    [Fact]
    public async Task The_chunk_verification_names_the_first_missing_chunks_and_counts_the_rest()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, OnlineCheck.MaxChunkProblems + 50).Select(i => StoreHarness.Chunk(i, 100)).ToArray();
        await h.PutFileAsync(alice, "big.bin", 0, chunks);
        await h.Gateway.DeleteChunksAsync(h.Store.Nodes.Require(StoreHarness.NodeA), chunks.Select(c => c.Id).ToList(), CancellationToken.None);
        var check = new OnlineCheck(h.Store, h.Gateway, h.Options);

        var report = await check.RunAsync(verifyChunks: true, CancellationToken.None);

        Assert.Equal(OnlineCheck.MaxChunkProblems + 1, report.Problems.Count);
        Assert.Equal($"50 more referenced chunk(s) held by no live storage node (recorded on: {StoreHarness.NodeA})", report.Problems[^1]);
    }

    [Fact]
    public async Task Garbage_collection_deletes_nothing_while_a_backup_holds_deletions_and_resumes_after()
    {
        // Arrange: a chunk uploaded but never committed, past the grace period.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var orphan = StoreHarness.Chunk(7);
        h.Stored(alice, orphan);
        h.Clock.Advance(Grace * 2);
        h.Heartbeat();

        // Act: a backup holds deletions while a pass runs.
        var hold = await h.Store.ChunkDeletions.HoldAsync(CancellationToken.None);
        var gc = h.Store.RunGcOnceAsync(CancellationToken.None);
        await WaitUntilAsync(() => h.Store.ChunkDeletions.WaitingDeletes == 1 || gc.IsCompleted);

        // Assert: the pass waits with the chunk still on its node; once the hold ends it deletes it.
        Assert.False(gc.IsCompleted);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, orphan.Id));
        hold.Dispose();
        Assert.Equal(1, (await gc.WaitAsync(TimeSpan.FromSeconds(30))).DeletedChunks);
        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, orphan.Id));
    }

    [Fact]
    public async Task A_backup_hold_waits_for_a_delete_already_under_way()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        h.Stored(alice, StoreHarness.Chunk(8));
        h.Clock.Advance(Grace * 2);
        h.Heartbeat();
        var inDelete = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finishDelete = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Gateway.BeforeDelete = async () =>
        {
            inDelete.TrySetResult();
            await finishDelete.Task;
        };
        var gc = h.Store.RunGcOnceAsync(CancellationToken.None);
        await inDelete.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var hold = h.Store.ChunkDeletions.HoldAsync(CancellationToken.None);

        Assert.False(hold.IsCompleted);
        finishDelete.SetResult();
        (await hold.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        await gc.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "condition not met within 30 s");
            await Task.Delay(10);
        }
    }
}
