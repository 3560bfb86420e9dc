using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>Work one account can cause is bounded per account, and no account's load costs another anything.</summary>
public sealed class PerUserBoundsTests
{
    private static ChunkRef[] Chunks(int from, int count) => Enumerable.Range(from, count).Select(i => StoreHarness.Chunk(i, 10)).ToArray();

    [Fact]
    public async Task PendingPuts_PastTheAccountsLimit_AreRefusedAllOrNone_WhileAnotherAccountPlansAsUsual()
    {
        // A small bound (the default is Limits.MaxPendingPutsPerUser) keeps the test fast; the code path is the same.
        const int limit = 1000;
        using var h = new StoreHarness(o => o with { MaxPendingPutsPerUser = limit });
        var (mallory, _) = h.Store.AddUser("mallory");
        var (alice, _) = h.Store.AddUser("alice");
        const int perPlan = 400;
        const int plans = limit / perPlan;
        for (var p = 0; p < plans; p++)
        {
            Assert.Equal(perPlan, h.Store.PlanUpload(mallory, StoreHarness.Upload($"big{p}", 0, Chunks(p * perPlan, perPlan))).Missing.Count);
        }

        var over = Assert.Throws<DropboxException>(() => h.Store.PlanUpload(mallory, StoreHarness.Upload("over", 0, Chunks(plans * perPlan, perPlan))));

        Assert.Equal(ErrorKind.ResourceExhausted, over.Kind);
        Assert.Contains($"MaxPendingPutsPerUser = {limit}", over.Message);
        Assert.Equal(plans * perPlan, h.Store.PendingPutCount(mallory)); // the refused plan noted nothing

        // Another account is untouched by mallory's load: its plan, its pending puts, its commit.
        var mine = Chunks(10_000_000, 200);
        Assert.Equal(200, h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, mine)).Missing.Count);
        Assert.Equal(200, h.Store.PendingPutCount(alice));
        h.Stored(alice, mine);
        Assert.Equal(0, h.Store.PendingPutCount(alice)); // reported: no longer outstanding
        Assert.Equal(1UL, (await h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, mine), CancellationToken.None)).Sequence);

        // Re-planning what is already pending adds nothing; expiry frees the account's room.
        h.Store.PlanUpload(mallory, StoreHarness.Upload("big0", 0, Chunks(0, perPlan)));
        Assert.Equal(plans * perPlan, h.Store.PendingPutCount(mallory));
        h.Clock.Advance(h.Options.TokenLifetime + h.Options.EventWait + TimeSpan.FromSeconds(1));
        h.Heartbeat();
        Assert.Equal(perPlan, h.Store.PlanUpload(mallory, StoreHarness.Upload("over", 0, Chunks(plans * perPlan, perPlan))).Missing.Count);
        Assert.Equal(perPlan, h.Store.PendingPutCount(mallory));
    }

    [Fact]
    public async Task LongPolls_PastTheAccountsLimit_AreResourceExhausted_AndOtherAccountsStillPoll()
    {
        using var h = new StoreHarness();
        var (mallory, _) = h.Store.AddUser("mallory");
        var (alice, _) = h.Store.AddUser("alice");
        using var stop = new CancellationTokenSource();
        var held = Enumerable.Range(0, Limits.MaxLongPollsPerUser)
            .Select(_ => h.Store.ListChangesAsync(mallory, null, 0, 300, stop.Token))
            .ToList();

        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // without the bound it would just wait
        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(mallory, null, 0, 300, bounded.Token));
        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
        Assert.Contains($"MaxLongPollsPerUser = {Limits.MaxLongPollsPerUser}", ex.Message);
        Assert.Empty((await h.Store.ListChangesAsync(mallory, null, 0, 0, CancellationToken.None)).Changes); // a plain poll still answers

        var alicePoll = h.Store.ListChangesAsync(alice, null, 0, 300, CancellationToken.None);
        await h.Store.CreateFolderAsync(alice, "x", "t");
        Assert.Single((await alicePoll.WaitAsync(TimeSpan.FromSeconds(30))).Changes);

        await stop.CancelAsync();
        foreach (var poll in held)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => poll.WaitAsync(TimeSpan.FromSeconds(30)));
        }

        var again = h.Store.ListChangesAsync(mallory, null, 0, 1, CancellationToken.None);
        Assert.Empty((await again.WaitAsync(TimeSpan.FromSeconds(30))).Changes); // the slots came back
    }

    [Fact]
    public async Task WorkInFlight_OneAccountsFullBudget_MakesOnlyItsOwnCallsWait_AndTheQueueIsBounded()
    {
        using var h = new StoreHarness();
        var (mallory, _) = h.Store.AddUser("mallory");
        var (alice, _) = h.Store.AddUser("alice");

        var big = await h.Store.AdmitAsync(mallory, Limits.MaxChunksPerFile, CancellationToken.None); // takes the whole budget
        var waiting = Enumerable.Range(0, Limits.MaxQueuedCallsPerUser).Select(_ => h.Store.AdmitAsync(mallory, 1, CancellationToken.None).AsTask()).ToList();
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.AdmitAsync(mallory, 1, CancellationToken.None).AsTask());
        var other = h.Store.AdmitAsync(alice, Limits.MaxChunksPerFile, CancellationToken.None);

        Assert.True(other.IsCompletedSuccessfully); // alice never waits for mallory
        (await other).Dispose();
        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains($"MaxQueuedCallsPerUser = {Limits.MaxQueuedCallsPerUser}", refused.Message);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));

        big.Dispose();
        foreach (var lease in await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(30)))
        {
            lease.Dispose();
        }
    }

    [Fact]
    public async Task ChunkRate_PastTheBurst_ACallWaitsOutItsDebt_AndAnotherGateIsUnaffected()
    {
        var gate = new WorkGate(budget: 1000, maxWaiting: 10, ratePerSecond: 1000, burst: 100);
        var other = new WorkGate(budget: 1000, maxWaiting: 10, ratePerSecond: 1000, burst: 100);

        (await gate.EnterAsync(100, CancellationToken.None)).Dispose(); // the burst
        var started = System.Diagnostics.Stopwatch.StartNew();
        using (await gate.EnterAsync(300, CancellationToken.None))
        {
            // ~300 units in debt at 1000/s: at least a quarter second (a loaded machine only makes it longer).
            Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(250), $"waited only {started.Elapsed}");
        }

        var quick = other.EnterAsync(100, CancellationToken.None);
        Assert.True(quick.IsCompletedSuccessfully); // its own burst, untouched: no wait at all
        (await quick).Dispose();
    }

    [Fact]
    public async Task WorkInFlight_ACancelledWaiter_LeavesTheQueue()
    {
        using var h = new StoreHarness();
        var (mallory, _) = h.Store.AddUser("mallory");
        var big = await h.Store.AdmitAsync(mallory, Limits.MaxChunksPerFile, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = h.Store.AdmitAsync(mallory, Limits.MaxChunksPerFile, cancel.Token).AsTask();
        var next = h.Store.AdmitAsync(mallory, 5, CancellationToken.None).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        big.Dispose();

        (await next.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
    }
}
