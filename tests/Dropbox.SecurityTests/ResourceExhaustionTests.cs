using System.Diagnostics;
using Dropbox.MetadataNode.Domain;
using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests;

/// <summary>
/// One user's flood (long polls, pending puts, oversized plans) is refused as RESOURCE_EXHAUSTED with a message naming
/// the per-user limit, and does not stop another user's calls. Bounded in count and time; the latency effect on the
/// other user is measured in benchmarks/, not here.
/// </summary>
public sealed class ResourceExhaustionTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private const int MaxLongPollsPerUser = Limits.MaxLongPollsPerUser;
    private const int MaxChunksPerFile = Limits.MaxChunksPerFile;
    private const int MaxPendingPutsPerUser = Limits.MaxPendingPutsPerUser;

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    [Fact]
    public async Task Long_polls_past_the_per_user_bound_are_refused_naming_the_limit_while_another_user_polls_freely()
    {
        var mallory = _app.AddUser("mallory-polls");
        var client = _app.Sync(mallory);
        var cursor = (await client.GetAccountAsync(new GetAccountRequest())).Cursor;
        using var stop = new CancellationTokenSource();
        var attempts = MaxLongPollsPerUser + 16;
        var refusals = new List<RpcException>();
        var polls = Enumerable.Range(0, attempts).Select(async _ =>
        {
            try
            {
                await client.ListChangesAsync(new ListChangesRequest { Cursor = cursor, WaitSeconds = 120 }, cancellationToken: stop.Token);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
            {
                lock (refusals)
                {
                    refusals.Add(e);
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
            {
            }
        }).ToList();

        var clock = Stopwatch.StartNew();
        while (RefusedCount() < attempts - MaxLongPollsPerUser && clock.Elapsed < Bound)
        {
            await Task.WhenAny(Task.WhenAll(polls), Task.Delay(50));
        }

        // Meanwhile alice lists and long-polls as usual.
        var alice = _app.Sync(_app.Alice);
        var aliceCursor = (await alice.GetAccountAsync(new GetAccountRequest())).Cursor;
        var quick = await alice.ListChangesAsync(new ListChangesRequest { Cursor = aliceCursor });
        var waited = await alice.ListChangesAsync(new ListChangesRequest { Cursor = aliceCursor, WaitSeconds = 1 });
        stop.Cancel();
        await Task.WhenAll(polls);

        Assert.Equal(attempts - MaxLongPollsPerUser, RefusedCount());
        Assert.All(refusals, e => Assert.Contains("MaxLongPollsPerUser", e.Status.Detail, StringComparison.Ordinal));
        Assert.Empty(quick.Changes);
        Assert.Empty(waited.Changes);
        _app.AssertNoUnhandledExceptions(_logMark);

        int RefusedCount()
        {
            lock (refusals)
            {
                return refusals.Count;
            }
        }
    }

    [Fact]
    public async Task A_flood_of_plans_past_the_pending_put_bound_is_refused_naming_the_limit_and_another_user_plans_on()
    {
        var mallory = _app.AddUser("mallory-plans");
        var client = _app.Sync(mallory);
        var next = 0;

        PlanUploadRequest Plan(int chunks)
        {
            var request = new PlanUploadRequest { Path = $"flood/{next}.bin", Size = (ulong)chunks };
            for (var i = 0; i < chunks; i++)
            {
                request.Chunks.Add(ChunkRef.Raw(ChunkId.Compute(BitConverter.GetBytes(++next)), 1).ToProto());
            }

            return request;
        }

        // One plan over the per-plan bound is refused outright, before any work.
        var oversized = await Expect.RefusedAsync(() => client.PlanUploadAsync(Plan(MaxChunksPerFile + 1)).ResponseAsync, StatusCode.ResourceExhausted);
        Assert.Contains("MaxChunksPerFile", oversized.Status.Detail, StringComparison.Ordinal);

        // Alice keeps planning small files while mallory floods.
        using var stop = new CancellationTokenSource();
        var alice = _app.Sync(_app.Alice);
        var aliceStatuses = new List<StatusCode>();
        var aliceLoop = Task.Run(async () =>
        {
            for (var i = 0; i < 200 && !stop.IsCancellationRequested; i++)
            {
                var (chunks, _) = Appliance.Cut(Appliance.Content(600_000 + i, 2_000), 100);
                aliceStatuses.Add(await Expect.StatusOfAsync(() => alice.PlanUploadAsync(new PlanUploadRequest { Path = "flood/alice.bin", Size = 2_000, Chunks = { chunks } }).ResponseAsync));
            }
        });

        RpcException? refused = null;
        var planned = 0;
        for (var round = 0; round < (MaxPendingPutsPerUser / MaxChunksPerFile) + 2 && refused is null; round++)
        {
            try
            {
                var answer = await client.PlanUploadAsync(Plan(MaxChunksPerFile));
                planned += answer.Missing.Count;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
            {
                refused = e;
            }
        }

        stop.Cancel();
        await aliceLoop;

        Assert.NotNull(refused);
        Assert.Contains("MaxPendingPutsPerUser", refused.Status.Detail, StringComparison.Ordinal);
        Assert.True(planned <= MaxPendingPutsPerUser, $"{planned} put tokens outstanding for one account");
        Assert.NotEmpty(aliceStatuses);
        Assert.All(aliceStatuses, s => Assert.Equal(StatusCode.OK, s));

        // Until her tokens expire or are used, one chunk past the bound is refused to mallory; the same plan is not to alice.
        var pastTheBound = Plan(MaxPendingPutsPerUser - planned + 1);
        await Expect.RefusedAsync(() => client.PlanUploadAsync(pastTheBound).ResponseAsync, StatusCode.ResourceExhausted);
        await alice.PlanUploadAsync(pastTheBound);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task A_device_fetching_download_plans_of_many_small_files_is_not_paced_as_if_each_were_huge()
    {
        // Per-user pacing charges chunk work; a download plan of a one-chunk file is one chunk of work. Three hundred of
        // them (a folder of small files) must all be answered within a bound that pacing at the largest page would
        // exceed many times over (300 x 10,000 units at 10,000 units/s after a 250,000-unit burst: minutes).
        var carol = _app.AddUser("carol-downloads");
        var files = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            files.Add((await _app.UploadAsync(carol, $"small/{i}.txt", Appliance.Content(800 + i, 500))).Entry.Path);
        }

        var client = _app.Sync(carol);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (var i = 0; i < 300; i++)
        {
            var plan = await client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = files[i % files.Count], Limit = (uint)(i % 2 * 5) }, deadline: deadline);
            Assert.Single(plan.Chunks);
        }

        _app.AssertNoUnhandledExceptions(_logMark);
    }
}
