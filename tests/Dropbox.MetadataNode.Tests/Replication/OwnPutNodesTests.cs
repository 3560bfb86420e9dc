using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A chunk an account put but has not committed is held, for its plans and its commit, only as far as the nodes whose
/// "stored" reports named that account's own puts hold it: a plan asks for the replicas those copies lack (found by a
/// CI run of the failover test: a put that landed on one node only, the node killed and not yet declared dead, the plan
/// answered "held" and the commit was acknowledged with its only copy there). Nothing another account stores changes
/// the answers.
/// </summary>
public sealed class OwnPutNodesTests
{
    [Fact]
    public async Task A_plan_with_no_avoid_list_and_every_node_live_asks_for_the_second_replica_of_a_put_that_landed_on_one_node_on_another_node()
    {
        // Arrange: three live nodes, two replicas; alice's puts landed on node a only (the puts of the second replicas
        // were cut off: node a was killed and is not declared dead yet).
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 6).Select(i => StoreHarness.Chunk(i)).ToArray();
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));
        h.Stored(alice, chunks);

        // Act: a new pass plans the file again, naming no node to avoid (single plan, batch plan, window plan).
        var single = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));
        var batch = h.Store.PlanMany(alice, [StoreHarness.Upload("f", 0, chunks)])[0];
        var window = h.Store.PlanChunks(alice, ChunkWindow.Create("f", 6_000, 0, chunks));

        // Assert: one put per chunk, none on node a, the same in the three; once they land the plan answers "held"
        // and the commit's chunks have both copies.
        Assert.Equal(6, single.Missing.Count);
        Assert.Equal(chunks.Select(c => c.Id).Order(), single.Missing.Select(p => p.ChunkId).Order());
        Assert.All(single.Missing, p => Assert.NotEqual(StoreHarness.NodeA, p.Node.NodeId));
        Assert.Equal(Puts(single, chunks), Puts(batch, chunks));
        Assert.Equal(Puts(single, chunks), Puts(window, chunks));

        PutAll(h, alice, single, chunks);
        Assert.Empty(h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks)).Missing);
        Assert.IsType<Committed>(await h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunks), CancellationToken.None));
        Assert.All(chunks, c => Assert.Equal(2, ChunkLedger.Read(h.Store.Engine, c.Id)!.Locations.Count));
        h.AssertConsistent();
    }

    [Fact]
    public void A_plan_asks_only_for_the_replicas_the_accounts_own_copies_lack_and_on_nodes_other_than_theirs()
    {
        // Arrange: four nodes, three replicas; alice's puts of chunk 0 landed on a, of 1 on a and b, of 2 on a, b and c;
        // chunk 3 was never put.
        using var h = Create(replicationFactor: 3, withD: true);
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 4).Select(i => StoreHarness.Chunk(i)).ToArray();
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));
        h.Stored(alice, chunks[0], chunks[1], chunks[2]);
        Report(h, alice, NodeB, chunks[1], chunks[2]);
        Report(h, alice, NodeC, chunks[2]);

        // Act
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));

        // Assert: 2, 1, 0 and 3 puts, each on a node without alice's copy, no node twice for one chunk.
        Assert.Equal([2, 1, 0, 3], chunks.Select(c => plan.Missing.Count(p => p.ChunkId == c.Id)));
        Assert.DoesNotContain(plan.Missing, p => p.ChunkId == chunks[0].Id && p.Node.NodeId == StoreHarness.NodeA);
        Assert.DoesNotContain(plan.Missing, p => p.ChunkId == chunks[1].Id && p.Node.NodeId is StoreHarness.NodeA or NodeB);
        Assert.All(plan.Missing.GroupBy(p => p.ChunkId), g => Assert.Equal(g.Count(), g.Select(p => p.Node.NodeId).Distinct().Count()));
    }

    [Theory]
    [InlineData("avoid c", "")]
    [InlineData("avoid a", "0:node-c,1:node-c")]
    [InlineData("a down", "0:node-c,1:node-c")]
    public void With_copies_on_a_and_b_a_plan_asks_for_a_third_node_only_when_a_is_avoided_or_down(string situation, string expected)
    {
        // Arrange: three nodes, two replicas; alice's puts landed on a and b. The client found c full, or a down; or a
        // has been silent longer than --node-dead-after.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = new[] { StoreHarness.Chunk(1), StoreHarness.Chunk(2) };
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));
        h.Stored(alice, chunks);
        Report(h, alice, NodeB, chunks);
        var upload = StoreHarness.Upload("f", 0, chunks);
        if (situation == "a down")
        {
            h.Clock.Advance(TimeSpan.FromSeconds(40));
            h.Store.Nodes.Heartbeat(NodeB, 0, 0);
            h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        }
        else
        {
            upload = upload with { AvoidNodes = [situation == "avoid a" ? StoreHarness.NodeA : NodeC] };
        }

        // Act
        var plan = h.Store.PlanUpload(alice, upload);

        // Assert: held when the avoided node is one alice's copies are not on; else the one missing copy, on c.
        Assert.Equal(expected, string.Join(",", Puts(plan, chunks)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Alices_plan_is_the_same_whether_or_not_bob_stores_the_content_on_other_nodes(bool forgettingA)
    {
        // Act: alice put the content on a only; bob committed the same content with copies on b and c, or nobody did.
        // Either node a is live, or a forget of it runs (its copies no longer count).
        var withBob = AlicesPlan(bobStoresIt: true, forgettingA);
        var alone = AlicesPlan(bobStoresIt: false, forgettingA);

        // Assert: bob's copies make no difference: one more copy of each chunk elsewhere than a, or two when a is
        // being forgotten.
        Assert.Equal(alone, withBob);
        Assert.Equal(forgettingA ? 4 : 2, alone.Count);
        Assert.DoesNotContain(alone, p => p.EndsWith(StoreHarness.NodeA, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Alices_commit_of_a_chunk_she_put_only_on_a_node_being_forgotten_is_refused_whether_or_not_bob_stores_it_elsewhere()
    {
        // Act: alice put the chunk on a only, then a forget of a began; bob committed the same content with copies on
        // b and c, or nobody did.
        var withBob = await AlicesCommitAsync(bobStoresIt: true);
        var alone = await AlicesCommitAsync(bobStoresIt: false);

        // Assert: the same refusal, calls, waits and next plan either way; her commit succeeds once her own puts land.
        Assert.Equal(alone, withBob);
        Assert.StartsWith("NotFound", alone, StringComparison.Ordinal);
        Assert.EndsWith("then committed", alone, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upload_mark_from_before_put_nodes_were_recorded_counts_as_not_held_so_the_chunk_is_put_again()
    {
        // Arrange: one node, one replica. Alice's put landed and was reported; her mark is then rewritten as the
        // previous release wrote it (the time of the upload, no nodes).
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(5);
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        h.Stored(alice, chunk);
        var ns = alice.Namespace.Value;
        h.Store.Transactions.Mutate<object?>(null, (batch, _) =>
        {
            var mark = batch.GetNamespaceChunk(ns, chunk.Id)!;
            batch.PutNamespaceChunk(ns, chunk.Id, new NamespaceChunkRecord { Refs = mark.Refs, UploadedUnixMs = mark.UploadedUnixMs });
            return null;
        });

        // Act
        var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));

        // Assert: the commit is refused as missing and the plan asks for the chunk again; once it is put (the node
        // dedups and reports), the commit goes through.
        Assert.Equal(ErrorKind.NotFound, Assert.IsType<DropboxException>(commit).Kind);
        Assert.Equal(["0:node-a"], Puts(plan, [chunk]));
        h.Stored(alice, chunk);
        Assert.IsType<Committed>(await h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_commit_whose_earlier_copy_is_on_a_node_being_forgotten_waits_for_the_events_of_its_new_puts()
    {
        // Arrange: alice's put landed on a, then a forget of a began; her next plan asked for both copies on b and c,
        // and her puts landed there, their events still on the way.
        using var h = Create(eventWait: TimeSpan.FromSeconds(30));
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(3);
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        h.Stored(alice, chunk);
        Assert.True(h.Store.Nodes.BeginForget(StoreHarness.NodeA));
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        Assert.Equal(["0:node-b", "0:node-c"], Puts(plan, [chunk]));
        h.Gateway.Put(NodeB, chunk.Id);
        h.Gateway.Put(NodeC, chunk.Id);

        // Act: she commits; the events come while the commit waits for them.
        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None);
        await UntilWaitingAsync(h, waits, commit);
        PutAll(h, alice, plan, [chunk]);

        // Assert: committed. Her mark named only a (whose copies no longer count), so the commit waited for her events
        // rather than being refused as missing with both new copies in place.
        Assert.IsType<Committed>(await commit);
        h.AssertConsistent();
    }

    /// <summary>Returns once <paramref name="commit"/> waits for the account's events (bounded).</summary>
    private static async Task UntilWaitingAsync(StoreHarness h, long waitsBefore, Task commit)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (h.Store.EventWaits == waitsBefore && !commit.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(waitsBefore + 1, h.Store.EventWaits);
    }

    /// <summary>Alice's plan of content she put on node a only, as "chunk index:node" per put, sorted.</summary>
    private static List<string> AlicesPlan(bool bobStoresIt, bool forgettingA)
    {
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = new[] { StoreHarness.Chunk(7), StoreHarness.Chunk(8) };
        if (bobStoresIt)
        {
            BobCommitsOnBAndC(h, chunks).GetAwaiter().GetResult();
        }

        h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, chunks));
        h.Stored(alice, chunks);
        if (forgettingA)
        {
            Assert.True(h.Store.Nodes.BeginForget(StoreHarness.NodeA));
        }

        return Puts(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, chunks)), chunks);
    }

    /// <summary>
    /// Alice's commit of a chunk she put on node a only, once a forget of a began: its outcome, the calls to the nodes,
    /// the waits, her next plan, and whether a commit after the puts it asks for goes through.
    /// </summary>
    private static async Task<string> AlicesCommitAsync(bool bobStoresIt)
    {
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(9);
        if (bobStoresIt)
        {
            await BobCommitsOnBAndC(h, [chunk]);
        }

        h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, chunk));
        h.Stored(alice, chunk);
        Assert.True(h.Store.Nodes.BeginForget(StoreHarness.NodeA));
        var (calls, waits) = (h.Gateway.HasCalls, h.Store.EventWaits);

        var refused = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, chunk), CancellationToken.None));
        var (called, waited) = (h.Gateway.HasCalls - calls, h.Store.EventWaits - waits);
        var next = h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, chunk));
        PutAll(h, alice, next, [chunk]);
        var after = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, chunk), CancellationToken.None));
        return $"{(refused as DropboxException)?.Kind.ToString() ?? refused?.GetType().Name ?? "committed"}; {called} calls, {waited} waits; next plan {string.Join(",", Puts(next, [chunk]))}; then {(after is null ? "committed" : after.Message)}";
    }

    /// <summary>Bob uploads the chunks: his puts land on b and c, and he commits them.</summary>
    private static async Task BobCommitsOnBAndC(StoreHarness h, ChunkRef[] chunks)
    {
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunks));
        Report(h, bob, NodeB, chunks);
        Report(h, bob, NodeC, chunks);
        await h.Store.CommitAsync(bob, StoreHarness.Upload("b", 0, chunks), CancellationToken.None);
    }
}
