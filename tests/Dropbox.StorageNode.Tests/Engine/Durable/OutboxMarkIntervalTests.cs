using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.Logging;
using static Dropbox.StorageNode.Tests.Engine.Durable.OutboxEvents;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>
/// The outbox writes its delivered mark at most once per mark interval and when it is closed, not at every delivery
/// (each write is a new file and a rename). A mark not yet written may only make a restart deliver events again, never
/// skip one.
/// </summary>
public sealed class OutboxMarkIntervalTests
{
    private static readonly TimeSpan Long = TimeSpan.FromHours(1);

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Marks_within_an_interval_are_written_once_and_the_last_one_when_the_outbox_closes(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var dir = backend.PathOf("outbox");
        var outbox = new EventOutbox(dir, backend.Files, Long);
        await AppendAsync(outbox, 0, 100);
        var pending = outbox.ReadPending(500);

        outbox.MarkDelivered(pending[9].End);
        Assert.Equal(pending[9].End, MarkOnDisk(backend, dir)); // the first is due at once
        for (var i = 19; i < 100; i += 10)
        {
            outbox.MarkDelivered(pending[i].End);
        }

        Assert.Equal(pending[9].End, MarkOnDisk(backend, dir)); // the rest wait for the interval
        Assert.Equal(0, outbox.PendingCount);

        await outbox.DisposeAsync();
        Assert.Equal(pending[99].End, MarkOnDisk(backend, dir));
        await using var reopened = new EventOutbox(dir, backend.Files, Long);
        Assert.Equal(0, reopened.PendingCount);
        Assert.Empty(reopened.ReadPending(500));
    }

    [Fact]
    public async Task A_mark_due_again_after_the_interval_is_written_at_the_next_delivery()
    {
        using var backend = LogBackend.Create("memory");
        var dir = backend.PathOf("outbox");
        var clock = new StepClock();
        await using var outbox = new EventOutbox(dir, backend.Files, TimeSpan.FromSeconds(1), time: clock);
        await AppendAsync(outbox, 0, 30);
        var pending = outbox.ReadPending(500);
        outbox.MarkDelivered(pending[9].End);
        clock.Advance(TimeSpan.FromMilliseconds(999));
        outbox.MarkDelivered(pending[19].End);
        Assert.Equal(pending[9].End, MarkOnDisk(backend, dir));

        clock.Advance(TimeSpan.FromMilliseconds(1));
        outbox.MarkDelivered(pending[29].End);
        Assert.Equal(pending[29].End, MarkOnDisk(backend, dir));
    }

    [Fact]
    public async Task A_mark_left_behind_is_written_once_due_when_nothing_is_left_to_send()
    {
        // Review s56: a mark behind after the last delivery of a burst stayed behind until the next delivery or the close,
        // hours on a quiet node; an unclean restart then replayed events long given up.
        using var backend = LogBackend.Create("memory");
        var dir = backend.PathOf("outbox");
        var clock = new StepClock();
        await using var outbox = new EventOutbox(dir, backend.Files, TimeSpan.FromSeconds(1), time: clock);
        await AppendAsync(outbox, 0, 20);
        var pending = outbox.ReadPending(500);
        outbox.MarkDelivered(pending[9].End);
        outbox.MarkDelivered(pending[19].End);

        Assert.Empty(outbox.ReadPending(500));
        Assert.Equal(pending[9].End, MarkOnDisk(backend, dir)); // not due yet

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(outbox.ReadPending(500));
        Assert.Equal(pending[19].End, MarkOnDisk(backend, dir));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public async Task After_a_power_cut_with_marks_not_written_every_event_past_the_mark_on_disk_is_delivered_again(double keepUnsynced)
    {
        using var backend = LogBackend.Create("memory");
        var memory = (MemoryFiles)backend.Inner;
        memory.KeepUnsyncedProbability = keepUnsynced;
        var dir = backend.PathOf("outbox");
        var outbox = new EventOutbox(dir, backend.Files, Long);
        await AppendAsync(outbox, 0, 100);
        var pending = outbox.ReadPending(500);
        outbox.MarkDelivered(pending[9].End);
        outbox.MarkDelivered(pending[59].End); // delivered, its mark not written yet
        memory.CrashNow(new Random(5));

        var survivors = memory.Survivors!;
        await using var reopened = new EventOutbox(dir, survivors, Long);
        var again = new List<Dropbox.Shared.Chunks.ChunkId>();
        while (reopened.ReadPending(500) is { Count: > 0 } batch)
        {
            again.AddRange(batch.Select(p => p.Event.Id));
            reopened.MarkDelivered(batch[^1].End);
        }

        // Events 60..99 were never delivered: all come; 10..59 come again (their mark was not written); none is skipped.
        var from = keepUnsynced == 1.0 ? 10 : 0; // the first mark, not synced, survives only by chance
        Assert.Equal(Ids(from, 100 - from), again);
    }

    [Fact]
    public async Task A_mark_that_cannot_be_written_when_the_outbox_closes_is_logged_and_closing_goes_on()
    {
        using var backend = LogBackend.Create("memory");
        var files = new MarkFailingFiles(backend.Files);
        var dir = backend.PathOf("outbox");
        var logger = new ListLogger();
        var outbox = new EventOutbox(dir, files, Long, logger);
        await AppendAsync(outbox, 0, 20);
        var pending = outbox.ReadPending(500);
        outbox.MarkDelivered(pending[4].End);
        outbox.MarkDelivered(pending[19].End);

        files.FailMark = true;
        await outbox.DisposeAsync();
        var warning = Assert.Single(logger.Entries, e => e.EventId == 2106);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("delivered again", warning.Message, StringComparison.Ordinal);

        files.FailMark = false;
        await using var reopened = new EventOutbox(dir, files, Long);
        Assert.Equal(Ids(5, 15), reopened.ReadPending(500).Select(p => p.Event.Id));
    }



    /// <summary>A clock that moves only when told.</summary>
    private sealed class StepClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
