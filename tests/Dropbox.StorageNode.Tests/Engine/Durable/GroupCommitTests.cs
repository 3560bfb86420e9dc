using Dropbox.Shared.Chunks;
using Dropbox.Shared.IO;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

public sealed class GroupCommitTests
{
    private static StoredChunkEvent Event(int n) =>
        new(TestChunks.Random(16, n).Id, 1000 + n, ChunkEncoding.Raw, 1000 + n, "ns-" + n);

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Many_outbox_appends_share_few_fsyncs_and_all_survive_a_reopen(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var dir = backend.PathOf("outbox");
        const int count = 300;
        using var gate = new ManualResetEventSlim();
        await using (var outbox = new EventOutbox(dir, backend.Files))
        {
            backend.Files.ResetCount();
            backend.Files.Gate = gate;

            // The first group's fsync is held until every append is queued: the rest must share one or two more.
            var first = outbox.AppendAsync(Event(0), CancellationToken.None);
            Assert.True(backend.Files.Waiting.Wait(TimeSpan.FromSeconds(30)), "the first group never reached its fsync");
            var rest = Enumerable.Range(1, count - 1).Select(n => outbox.AppendAsync(Event(n), CancellationToken.None)).ToList();
            Assert.All(rest, t => Assert.False(t.IsCompleted, "an append completed before any fsync covered it"));
            gate.Set();
            await first.WaitAsync(TimeSpan.FromSeconds(30));
            await Task.WhenAll(rest).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.InRange(backend.Files.Flushes, 2, 3);
            Assert.Equal(count, outbox.PendingCount);
        }

        backend.Files.Gate = null;
        await using var reopened = new EventOutbox(dir, backend.Files);
        Assert.Equal(count, reopened.PendingCount);
        Assert.Equal(Enumerable.Range(0, count).Select(n => Event(n).Id), reopened.ReadPending(count + 1).Select(p => p.Event.Id));
    }

    [Fact]
    public async Task Acknowledged_outbox_events_survive_power_loss()
    {
        var files = new Dropbox.StorageNode.Engine.Files.MemoryFiles("/m");
        var outbox = new EventOutbox("/m/outbox", files);
        await Task.WhenAll(Enumerable.Range(0, 40).Select(n => outbox.AppendAsync(Event(n), CancellationToken.None)));
        var pending = outbox.ReadPending(10);
        outbox.MarkDelivered(pending[^1].End);
        files.CrashNow(new Random(5));
        await outbox.DisposeAsync();

        await using var reopened = new EventOutbox("/m/outbox", files.Survivors!);

        // The mark is not fsynced: it may be lost (events delivered again), never ahead of the acknowledged ones.
        var ids = reopened.ReadPending(100).Select(p => p.Event.Id).ToList();
        Assert.True(ids.Count is 30 or 40, $"{ids.Count} events pending");
        Assert.Equal(Enumerable.Range(40 - ids.Count, ids.Count).Select(n => Event(n).Id), ids);
    }

    [Fact]
    public async Task A_failed_barrier_fails_every_caller_of_its_group_and_the_next_group_commits()
    {
        var stages = new FlakyStages { FailNextSync = true };
        using var commit = new GroupCommit<Item, List<Item>>(stages, new GroupCommitOptions());

        var failed = new Item(1);
        commit.TryEnqueue(failed);
        await Assert.ThrowsAsync<IOException>(() => failed.Done.Task.WaitAsync(TimeSpan.FromSeconds(30)));

        var ok = new Item(2);
        commit.TryEnqueue(ok);
        await ok.Done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, stages.Syncs);
    }

    [Fact]
    public async Task A_failed_write_fails_only_its_group_and_skips_the_barrier()
    {
        var stages = new FlakyStages { FailNextWrite = true };
        using var commit = new GroupCommit<Item, List<Item>>(stages, new GroupCommitOptions());

        var failed = new Item(1);
        commit.TryEnqueue(failed);
        await Assert.ThrowsAsync<InvalidDataException>(() => failed.Done.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, stages.Syncs);

        var ok = new Item(2);
        commit.TryEnqueue(ok);
        await ok.Done.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Pipelined_groups_written_while_a_barrier_runs_share_the_next_one()
    {
        var stages = new FlakyStages { HoldFirstSync = new ManualResetEventSlim() };
        using var commit = new GroupCommit<Item, List<Item>>(stages, new GroupCommitOptions { Pipelined = true, MaxItems = 8 });

        var first = new Item(0);
        commit.TryEnqueue(first);
        Assert.True(stages.SyncStarted.Wait(TimeSpan.FromSeconds(30)));
        var rest = Enumerable.Range(1, 40).Select(n => new Item(n)).ToList();
        rest.ForEach(i => commit.TryEnqueue(i));

        // Five groups of eight are written while the first barrier is held; none is acknowledged yet.
        await WaitUntilAsync(() => stages.Written >= 41);
        Assert.All(rest, i => Assert.False(i.Done.Task.IsCompleted));
        stages.HoldFirstSync.Set();
        await Task.WhenAll(rest.Select(i => i.Done.Task).Append(first.Done.Task)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.InRange(stages.Syncs, 2, 3);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_completion_callback_that_throws_fails_its_group_and_later_items_and_shutdown_does_not_hang(bool pipelined)
    {
        var stages = new FlakyStages { ThrowInNextComplete = true };
        var commit = new GroupCommit<Item, List<Item>>(stages, new GroupCommitOptions { Pipelined = pipelined });

        var first = new Item(1);
        Assert.True(commit.TryEnqueue(first));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => first.Done.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("completion callback threw", error.Message, StringComparison.Ordinal);
        Assert.Same(commit.Failure, error);

        // Later items are refused (or, if queued before the stop, failed) with the same error: none waits forever.
        var later = new Item(2);
        if (commit.TryEnqueue(later))
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => later.Done.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        }

        await commit.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(5);
        }
    }

    private sealed class Item(int n)
    {
        public int N { get; } = n;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class FlakyStages : IGroupCommitStages<Item, List<Item>>
    {
        private int _syncs;
        private int _written;

        public bool FailNextSync { get; set; }

        public bool FailNextWrite { get; set; }

        public bool ThrowInNextComplete { get; set; }

        public ManualResetEventSlim? HoldFirstSync { get; init; }

        public ManualResetEventSlim SyncStarted { get; } = new();

        public int Syncs => Volatile.Read(ref _syncs);

        public int Written => Volatile.Read(ref _written);

        public List<Item> Write(IReadOnlyList<Item> items)
        {
            if (FailNextWrite)
            {
                FailNextWrite = false;
                throw new InvalidDataException("injected write failure");
            }

            Interlocked.Add(ref _written, items.Count);
            return [.. items];
        }

        public void Sync(IReadOnlyList<List<Item>> batches)
        {
            SyncStarted.Set();
            if (Interlocked.Increment(ref _syncs) == 1 && HoldFirstSync is { } hold)
            {
                Assert.True(hold.Wait(TimeSpan.FromSeconds(30)));
            }

            if (FailNextSync)
            {
                FailNextSync = false;
                throw new IOException("injected fsync failure");
            }
        }

        public void Complete(List<Item> batch, Exception? failure)
        {
            if (ThrowInNextComplete)
            {
                ThrowInNextComplete = false;
                throw new InvalidCastException("injected completion failure");
            }

            batch.ForEach(i => _ = failure is null ? i.Done.TrySetResult() : i.Done.TrySetException(failure));
        }

        public void Fail(IReadOnlyList<Item> items, Exception failure) => Complete([.. items], failure);
    }
}
