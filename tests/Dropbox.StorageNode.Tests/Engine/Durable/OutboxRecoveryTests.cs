using System.Text;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Store;
using static Dropbox.StorageNode.Tests.Engine.Durable.OutboxEvents;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

public sealed class OutboxRecoveryTests
{
    [Theory]
    [InlineData("disk", "legacy")]
    [InlineData("memory", "framed")]
    public async Task A_delivered_mark_past_the_end_of_the_log_is_reset_durably_so_later_events_are_neither_lost_nor_stuck(string kind, string markFormat)
    {
        using var backend = LogBackend.Create(kind);
        var dir = backend.PathOf("outbox");
        backend.Inner.CreateDirectory(dir);
        backend.WriteAll(Path.Combine(dir, "events.log"), []);

        // The log was emptied after a full delivery; the mark still holds the old end (an older build's text mark,
        // or a framed one whose reset to 0 was lost in a crash between the truncate and the mark write).
        const long staleMark = 1_048_700;
        if (markFormat == "legacy")
        {
            backend.WriteAll(Path.Combine(dir, "delivered"), Encoding.ASCII.GetBytes(staleMark.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        else
        {
            RecordFile.Replace(backend.Inner, Path.Combine(dir, "delivered"), staleMark, OutboxCodecs.Delivered.Instance);
        }

        const int count = 16_000;
        await using (var outbox = new EventOutbox(dir, backend.Files))
        {
            Assert.Equal(0, outbox.PendingCount);
            await AppendAsync(outbox, 0, count);
            Assert.Equal(count, outbox.PendingCount);
        }

        Assert.True(backend.ReadAll(Path.Combine(dir, "events.log")).Length > staleMark, "the log must grow past the stale mark for the test to mean anything");
        await using var reopened = new EventOutbox(dir, backend.Files);
        Assert.Equal(count, reopened.PendingCount);
        var first = reopened.ReadPending(1000);
        Assert.Equal(Enumerable.Range(0, 1000).Select(n => Event(n).Id), first.Select(p => p.Event.Id));
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task A_framed_outbox_whose_first_bytes_rotted_is_not_taken_for_the_old_format_and_keeps_its_other_events(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var dir = backend.PathOf("outbox");
        await using (var outbox = new EventOutbox(dir, backend.Files))
        {
            await AppendAsync(outbox, 0, 10);
        }

        var logPath = Path.Combine(dir, "events.log");
        var bytes = backend.ReadAll(logPath);
        bytes[0] ^= 0xFF;
        backend.WriteAll(logPath, bytes);

        await using var reopened = new EventOutbox(dir, backend.Files);

        // Only the record whose header rotted is lost (and reported); the file is neither emptied nor cut.
        Assert.Equal(9, reopened.PendingCount);
        Assert.Equal(Enumerable.Range(1, 9).Select(n => Event(n).Id), reopened.ReadPending(100).Select(p => p.Event.Id));
        Assert.Equal(bytes.Length, backend.ReadAll(logPath).Length);
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task A_rotten_record_header_in_the_middle_of_the_outbox_loses_only_that_event_and_delivery_goes_on_past_it(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var dir = backend.PathOf("outbox");
        await using (var outbox = new EventOutbox(dir, backend.Files))
        {
            await AppendAsync(outbox, 0, 10);
        }

        var logPath = Path.Combine(dir, "events.log");
        var bytes = backend.ReadAll(logPath);
        var frame = bytes.Length / 10;
        bytes[(4 * frame) + 5] ^= 0x01; // the body length of event 4: its header no longer checks out
        backend.WriteAll(logPath, bytes);

        await using (var reopened = new EventOutbox(dir, backend.Files))
        {
            Assert.Equal(9, reopened.PendingCount);
            var pending = reopened.ReadPending(3);
            Assert.Equal([0, 1, 2], pending.Select(p => Array.IndexOf(Enumerable.Range(0, 10).Select(n => Event(n).Id).ToArray(), p.Event.Id)));
            reopened.MarkDelivered(pending[^1].End);
            Assert.Equal(new[] { 3, 5, 6, 7, 8, 9 }.Select(n => Event(n).Id), reopened.ReadPending(100).Select(p => p.Event.Id));
        }

        Assert.Equal(bytes.Length, backend.ReadAll(logPath).Length);
    }
}
