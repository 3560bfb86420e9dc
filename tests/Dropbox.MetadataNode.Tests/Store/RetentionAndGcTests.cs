using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

public sealed class RetentionAndGcTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    private static StoreHarness Harness(int keepVersions = 100, TimeSpan? keepAge = null) => new(o => o with
    {
        KeepVersions = keepVersions,
        KeepAge = keepAge ?? TimeSpan.FromDays(30),
        GcGracePeriod = Grace,
        NodeTimeout = TimeSpan.FromDays(365),
    });

    [Fact]
    public async Task Retention_TwoVersionsOfOnePathInOneBatch_PruneTwoDifferentVersions_AndAChunkStillUsedElsewhereSurvivesGc()
    {
        using var h = Harness(keepVersions: 2);
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var shared = StoreHarness.Chunk(1);
        var v1 = await h.PutFileAsync(alice, "p", 0, shared); // v1 holds the chunk bob also uses
        await h.PutFileAsync(bob, "mine", 0, shared);
        var v2 = await h.PutFileAsync(alice, "p", v1.Sequence, StoreHarness.Chunk(2));
        h.Stored(alice, StoreHarness.Chunk(3), StoreHarness.Chunk(4));

        // One batch, two versions of "p": each prunes one old version. Pruning v1 twice dropped the shared
        // chunk's references twice, and the collector then deleted bob's bytes.
        var next = v2.Sequence + 1;
        var response = SyncMapping.ToResponse(await h.Store.CommitManyAsync(alice,
        [
            StoreHarness.Upload("p", v2.Sequence, StoreHarness.Chunk(3)),
            StoreHarness.Upload("p", next, StoreHarness.Chunk(4)),
        ], CancellationToken.None));

        Assert.All(response.Results, r => Assert.Equal(0, r.StatusCode));
        Assert.Equal(2, h.Store.ListVersions(alice, "p").Count);
        h.AssertConsistent();
        h.Clock.Advance(Grace * 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, shared.Id));
        Assert.Equal(shared.Id, h.Store.GetDownloadPlan(bob, "mine", 0).Chunks[0].Chunk.Id);
    }

    [Fact]
    public async Task Retention_ByCount_PrunesOldest_AndRefcountsFollow()
    {
        using var h = Harness(keepVersions: 3);
        var (alice, _) = h.Store.AddUser("alice");
        ulong version = 0;
        for (var i = 0; i < 6; i++)
        {
            version = (await h.PutFileAsync(alice, "a", version, StoreHarness.Chunk(i))).Sequence;
        }

        var kept = h.Store.ListVersions(alice, "a").Select(v => v.Version).ToList();

        Assert.Equal([6UL, 5UL, 4UL], kept);
        h.AssertConsistent();
        Assert.Empty(h.Store.PlanUpload(alice, StoreHarness.Upload("b", 0, StoreHarness.Chunk(4))).Missing);

        // The pruned versions' chunks are unreferenced: after the grace period they are deleted and asked for again.
        h.Clock.Advance(Grace * 2);
        Assert.Equal(3, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("b", 0, StoreHarness.Chunk(0))).Missing);
        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, StoreHarness.Chunk(0).Id));
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, StoreHarness.Chunk(5).Id));
    }

    [Fact]
    public async Task Retention_ByAge_PrunesSupersededVersions_KeepsCurrentAndDeletedFilesWithinAge()
    {
        using var h = Harness(keepAge: TimeSpan.FromDays(30));
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        var v2 = await h.PutFileAsync(alice, "a", v1.Sequence, StoreHarness.Chunk(2));
        await h.PutFileAsync(alice, "gone", 0, StoreHarness.Chunk(3));
        await h.Store.DeleteAsync(alice, "gone", 0, "t");

        h.Clock.Advance(TimeSpan.FromDays(29));
        Assert.Equal(0, (await h.Store.RunGcOnceAsync(CancellationToken.None)).PrunedVersions);
        h.Clock.Advance(TimeSpan.FromDays(2));
        var result = await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.Equal(2, result.PrunedVersions);
        Assert.Equal([v2.Sequence], h.Store.ListVersions(alice, "a").Select(v => v.Version));
        Assert.True(Assert.Single(h.Store.ListVersions(alice, "gone")).Deleted);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_DeletesUnreferencedChunksOnlyAfterGrace()
    {
        using var h = Harness(keepVersions: 1);
        var (alice, _) = h.Store.AddUser("alice");
        var old = StoreHarness.Chunk(1);
        var v1 = await h.PutFileAsync(alice, "a", 0, old);
        await h.PutFileAsync(alice, "a", v1.Sequence, StoreHarness.Chunk(2)); // prunes v1: old is unreferenced

        h.Clock.Advance(Grace - TimeSpan.FromMinutes(1));
        Assert.Equal(0, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, old.Id));

        h.Clock.Advance(TimeSpan.FromMinutes(2));
        var result = await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.Equal(1, result.DeletedChunks);
        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, old.Id));
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, StoreHarness.Chunk(2).Id));
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_MakesItsDeletingMarkDurable_BeforeAnyNodeIsAskedToDelete()
    {
        using var h = Harness(keepVersions: 1);
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        await h.PutFileAsync(alice, "a", v1.Sequence, StoreHarness.Chunk(2));
        h.Clock.Advance(Grace * 2);
        var engine = h.Store.Engine;
        var checkedAtDelete = false;
        h.Gateway.BeforeDelete = () =>
        {
            // Were the power cut now, the metadata must already say DELETING: everything written is fsynced.
            Assert.True(engine.DurableSequence >= engine.LatestSequence, $"the DELETING mark (write {engine.LatestSequence}) is not fsynced (durable through {engine.DurableSequence}) while a node deletes");
            checkedAtDelete = true;
            return Task.CompletedTask;
        };

        var result = await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.True(checkedAtDelete);
        Assert.Equal(1, result.DeletedChunks);
    }

    [Fact]
    public async Task Gc_AbandonedUpload_IsDeletedAfterGrace_AndOnlyATombstoneOfItsMetadataRemains()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c); // uploaded, never committed (the client gave up)

        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        h.Clock.Advance(Grace * 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        var tombstone = Domain.ChunkLedger.Read(h.Store.Engine, c.Id)!;
        Assert.Equal((Storage.Records.ChunkState.Deleted, 0), (tombstone.State, tombstone.Locations.Count));
        Assert.Empty(h.Store.Engine.ScanAll(h.Store.Engine.Chunks)); // the tombstone is kept out of the chunk scans
        Assert.Empty(h.Store.Engine.ScanAll(h.Store.Engine.NamespaceChunks));
        Assert.Empty(h.Store.Engine.ScanAll(h.Store.Engine.Gc));
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_PendingUploadWithinGrace_IsKept_AndCommitAfterwardsSucceeds()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c); // uploaded, not yet committed

        h.Clock.Advance(Grace / 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var commit = await h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None);

        Assert.Equal(1UL, commit.Sequence);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_Race_CommitWhileDeleteIsInFlight_IsRefused_ThenReuploadSucceeds()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c);
        h.Clock.Advance(Grace + TimeSpan.FromMinutes(1));
        var deleteStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseDelete = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Gateway.BeforeDelete = async () =>
        {
            deleteStarted.TrySetResult();
            await releaseDelete.Task;
        };

        var gc = h.Store.RunGcOnceAsync(CancellationToken.None);
        await deleteStarted.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The chunk is being deleted: a plan asks for it again, a commit is refused, even a fresh event is not trusted.
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.Stored(alice, c);
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, refused.Kind);

        releaseDelete.SetResult();
        Assert.Equal(1, (await gc).DeletedChunks);
        h.Gateway.BeforeDelete = null;

        // The node's delete may have removed the re-upload; the client plans again, uploads, commits.
        var committed = await h.PutFileAsync(alice, "a", 0, c);
        Assert.Equal(1UL, committed.Sequence);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_Race_CommitJustBeforeGcPass_KeepsTheChunk()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c);
        // The last moment the upload counts (an "uploaded" mark lasts the grace, as the chunk does unreferenced); the
        // collector's pass comes after the commit, when the chunk would otherwise be long past its grace.
        h.Clock.Advance(Grace);

        await h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None);
        h.Clock.Advance(Grace * 2);
        h.Heartbeat();
        var result = await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.Equal(0, result.DeletedChunks);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_LateEventAfterDeletion_IsNotTrusted_CommitAsksTheNode()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c);
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);

        // A delayed "stored" event from before the deletion arrives now; the bytes are gone.
        h.Store.ReportChunksStored(new() { NodeId = StoreHarness.NodeA, Chunks = { new Dropbox.Shared.Protos.Metadata.StoredChunk { ChunkId = c.Id.ToByteString(), Size = (uint)c.Size, NamespaceId = alice.Namespace.Value } } });
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));

        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_EventDelayedPastTheForgottenDeletion_IsNotTrusted_SoACommitCannotReferenceDeletedBytes()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);

        // The node stores the put, but its "stored" event is held up (the writer stalls, the node's outbox waits).
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.Gateway.Put(StoreHarness.NodeA, c.Id);
        h.Store.ReportChunksStored(StoredEvent(alice, c));
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.False(h.Gateway.HoldsAnywhere(c.Id));

        // Another grace later the collector forgets the deleted chunk's record; then the held-up event of a put
        // from before the deletion arrives.
        h.Clock.Advance(Grace * 2);
        h.Heartbeat();
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        h.Store.ReportChunksStored(StoredEvent(alice, c));

        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Gc_NodeAnswerMadeStaleByADeletion_IsNotTrusted_SoACommitCannotReferenceDeletedBytes()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var c = StoreHarness.Chunk(1);

        // alice and bob upload the same bytes; alice's event is held up, so her commit asks the node, which holds them.
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        Assert.Single(h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, c)).Missing);
        h.Gateway.Put(StoreHarness.NodeA, c.Id);
        var deletedMeanwhile = -1;
        h.Gateway.AfterHas = async () =>
        {
            // Between the node's answer and its use: bob's event for the same bytes arrives, the clock passes the
            // grace, a collector pass deletes the (still unreferenced) chunk from the node, then alice's event.
            h.Gateway.AfterHas = null;
            h.Store.ReportChunksStored(StoredEvent(bob, c));
            h.Clock.Advance(Grace * 2);
            h.Heartbeat();
            deletedMeanwhile = (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks;
            h.Store.ReportChunksStored(StoredEvent(alice, c));
        };

        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));
        Assert.Equal(1, deletedMeanwhile);
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.False(h.Gateway.HoldsAnywhere(c.Id));
        h.AssertConsistent();
    }

    private static Dropbox.Shared.Protos.Metadata.ReportChunksStoredRequest StoredEvent(Domain.UserInfo user, Dropbox.Shared.Chunks.ChunkRef c) =>
        new() { NodeId = StoreHarness.NodeA, Chunks = { new Dropbox.Shared.Protos.Metadata.StoredChunk { ChunkId = c.Id.ToByteString(), Size = (uint)c.Size, StoredSize = (uint)c.Size, NamespaceId = user.Namespace.Value } } };

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Gc_Race_RandomInterleavings_NeverDeleteAChunkALiveVersionReferences()
    {
        using var h = Harness(keepVersions: 2);
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var stop = DateTime.UtcNow + TimeSpan.FromSeconds(4);
        var random = new Random(42);

        async Task Writer(Domain.UserInfo user, int seed)
        {
            var rnd = new Random(seed);
            var versions = new Dictionary<string, ulong>();
            for (var i = 0; i < 400 && DateTime.UtcNow < stop; i++)
            {
                var path = "f" + rnd.Next(5);
                var chunks = Enumerable.Range(0, 1 + rnd.Next(3)).Select(_ => StoreHarness.Chunk(rnd.Next(12))).DistinctBy(c => c.Id).ToArray();
                try
                {
                    if (rnd.Next(6) == 0)
                    {
                        await h.Store.DeleteAsync(user, path, 0, "t");
                    }
                    else
                    {
                        versions.TryGetValue(path, out var b);
                        var r = await h.PutFileAsync(user, path, b, chunks);
                        versions[path] = r.Sequence;
                    }
                }
                catch (DropboxException ex) when (ex.Kind is ErrorKind.NotFound or ErrorKind.Conflict)
                {
                    versions.Remove(path);
                    var current = h.Store.ListFiles(user, "", false).Entries.FirstOrDefault(e => e.Path == path);
                    if (current is not null)
                    {
                        versions[path] = current.Version;
                    }
                }
            }
        }

        async Task Collector()
        {
            for (var i = 0; i < 2000 && DateTime.UtcNow < stop; i++)
            {
                h.Clock.Advance(TimeSpan.FromMinutes(random.Next(0, 90)));
                h.Heartbeat();
                await h.Store.RunGcOnceAsync(CancellationToken.None);
                await Task.Yield();
            }
        }

        await Task.WhenAll(Task.Run(() => Writer(alice, 1)), Task.Run(() => Writer(bob, 2)), Task.Run(Collector));

        h.AssertConsistent();
        foreach (var user in new[] { alice, bob })
        {
            foreach (var entry in h.Store.ListFiles(user, "", false).Entries)
            {
                foreach (var version in h.Store.ListVersions(user, entry.Path).Where(v => !v.Deleted))
                {
                    Assert.All(version.Chunks, c => Assert.True(h.Gateway.HoldsAnywhere(c.Id), $"{entry.Path}@{version.Version} lost chunk {c.Id.ToShortString()}"));
                }
            }
        }
    }
}
