using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.Logging;
using static Dropbox.StorageNode.Tests.Engine.Durable.OutboxEvents;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>
/// Review probes (stop 56) of the delivered mark written at most once per mark interval and when the outbox closes:
/// a reset that fails right after a mark was written, a close after a power cut, and what a killed process (no close)
/// finds. Failing probes are evidence, not fixes.
/// </summary>
public sealed class OutboxMarkIntervalProbeTests
{
    private static readonly TimeSpan Long = TimeSpan.FromHours(1);

    [Fact]
    public async Task Probe_a_reset_that_fails_right_after_a_mark_was_written_still_has_its_batch_marked_at_close()
    {
        // The branch's own probe (OutboxReadOnceProbeTests: a reset whose mark write fails) now expects the failed
        // reset's batch not to come again, "its mark is written at close". That holds only when an earlier delivery left
        // the mark behind: the reset branch never sets _markBehind, so when the delivery just before it wrote the mark
        // (the interval had passed), a failed reset leaves _delivered ahead of the file and nothing writes it at close.
        using var backend = LogBackend.Create("memory");
        var files = new MarkFailingFiles(backend.Files);
        var dir = backend.PathOf("outbox");
        const int count = 16_000; // 32 batches of 500, over 1 MiB: the last delivery empties the log
        const int later = 100;
        await using (var outbox = new EventOutbox(dir, files, TimeSpan.FromMilliseconds(50)))
        {
            await AppendAsync(outbox, 0, count);
            var length = backend.ReadAll(Path.Combine(dir, "events.log")).Length;
            Assert.True(length > 1 << 20, $"the log must be over 1 MiB to be emptied ({length} bytes)");
            for (var i = 0; i < 30; i++)
            {
                var batch = outbox.ReadPending(500);
                outbox.MarkDelivered(batch[^1].End);
            }

            // The interval passes (a pause in the uploads); the next delivery writes its mark at once.
            await Task.Delay(200);
            var before = outbox.ReadPending(500);
            outbox.MarkDelivered(before[^1].End);
            Assert.Equal(before[^1].End, MarkOnDisk(backend, dir));

            var last = outbox.ReadPending(500);
            Assert.Equal(length, last[^1].End);
            files.FailMark = true;
            Assert.IsType<IOException>(Record.Exception(() => outbox.MarkDelivered(last[^1].End)));
            files.FailMark = false;
            Assert.Equal(length, backend.ReadAll(Path.Combine(dir, "events.log")).Length); // not emptied without its mark 0

            await AppendAsync(outbox, count, later);
            Assert.Equal(later, outbox.PendingCount);
        }

        // Closed cleanly: the delivered batch (its only failure was the reset) should not come again, as the branch's own
        // probe expects.
        await using var reopened = new EventOutbox(dir, backend.Files, Long);
        Assert.Equal(later, reopened.PendingCount);
    }

    [Fact]
    public async Task Probe_closing_after_a_power_cut_logs_the_unwritten_mark_and_the_restart_skips_nothing()
    {
        using var backend = LogBackend.Create("memory");
        var memory = (MemoryFiles)backend.Inner;
        var dir = backend.PathOf("outbox");
        var logger = new ListLogger();
        var outbox = new EventOutbox(dir, backend.Files, Long, logger);
        await AppendAsync(outbox, 0, 100);
        var pending = outbox.ReadPending(500);
        outbox.MarkDelivered(pending[9].End);
        outbox.MarkDelivered(pending[49].End); // behind: written only at close
        memory.CrashNow(new Random(7));

        // The host closes the outbox after the device is gone (every call throws): closing must not throw.
        var thrown = await Record.ExceptionAsync(async () => await outbox.DisposeAsync());
        Assert.Null(thrown);
        Assert.Contains(logger.Entries, e => e.EventId == 2106);

        await using var reopened = new EventOutbox(dir, memory.Survivors!, Long);
        var seen = new List<Dropbox.Shared.Chunks.ChunkId>();
        while (reopened.ReadPending(500) is { Count: > 0 } batch)
        {
            seen.AddRange(batch.Select(p => p.Event.Id));
            reopened.MarkDelivered(batch[^1].End);
        }

        // No mark was ever synced: everything comes again, nothing is skipped.
        Assert.Equal(Ids(0, 100), seen);
    }

    [Fact]
    public async Task Probe_a_process_killed_after_a_delivery_delivers_the_batches_after_the_last_written_mark_again()
    {
        // A SIGKILL (or a crash) keeps what the kernel was given, and closes nothing. Before stop 56 every mark was
        // renamed into place at its delivery, so a killed node delivered nothing again; now the deliveries since the
        // last mark written (up to a mark interval of them, or more if deliveries stopped since) come again. Harmless
        // (the reporter drops events of chunks no longer held, the metadata node ignores repeats): this documents the cost.
        // A mark that fell behind when deliveries stop is written once due by the next ReadPending that finds nothing to
        // send (the reporter's idle look, at least every 5 s), the next delivery, or the close; none of these happens here.
        using var backend = LogBackend.Create("disk");
        var dir = backend.PathOf("outbox");
        var killed = new EventOutbox(dir, backend.Files, TimeSpan.FromSeconds(1)); // a second apart: the two deliveries are within one interval
        await AppendAsync(killed, 0, 100);
        var pending = killed.ReadPending(500);
        killed.MarkDelivered(pending[9].End); // written at once
        killed.MarkDelivered(pending[59].End); // not yet
        await Task.Delay(1500); // idle for longer than the mark interval: still not written

        // Opened again on the same files without closing the first (its handle is simply abandoned, as a kill leaves it).
        await using var restarted = new EventOutbox(dir, backend.Files, Long);
        Assert.Equal(Ids(10, 90), restarted.ReadPending(500).Select(p => p.Event.Id));
    }
}
