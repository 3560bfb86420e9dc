using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Store;
using static Dropbox.StorageNode.Tests.Engine.Durable.OutboxEvents;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>
/// The outbox reads each event from its log once: the reporter asks for the pending events whenever a put ends, and
/// re-reading the same ones from the file each time was a tenth of the appliance's CPU over 10,000 small files. What it
/// hands out must stay what the log holds past the delivered mark, in order, across deliveries, the log's reset and a
/// restart.
/// </summary>
public sealed class OutboxReadOnceTests
{
    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Asking_again_for_undelivered_events_does_not_read_them_from_the_file_again(string kind)
    {
        using var backend = LogBackend.Create(kind);
        await using var outbox = new EventOutbox(backend.PathOf("outbox"), backend.Files);
        await AppendAsync(outbox, 0, 300);

        backend.Files.ResetCount();
        Assert.Equal(Ids(0, 300), outbox.ReadPending(500).Select(p => p.Event.Id));
        var firstRead = backend.Files.Reads;
        Assert.True(firstRead > 0, "the first ask must read the log for the test to mean anything");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(Ids(0, 300), outbox.ReadPending(500).Select(p => p.Event.Id));
        }

        Assert.Equal(firstRead, backend.Files.Reads);

        // A smaller ask gets the front; the rest stay kept, in order.
        Assert.Equal(Ids(0, 120), outbox.ReadPending(120).Select(p => p.Event.Id));
        Assert.Equal(firstRead, backend.Files.Reads);
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Events_delivered_leave_and_events_appended_since_follow_in_order(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var dir = backend.PathOf("outbox");
        await using (var outbox = new EventOutbox(dir, backend.Files))
        {
            await AppendAsync(outbox, 0, 300);
            var pending = outbox.ReadPending(500);
            outbox.MarkDelivered(pending[99].End);
            Assert.Equal(Ids(100, 200), outbox.ReadPending(500).Select(p => p.Event.Id));

            await AppendAsync(outbox, 300, 50);
            var after = outbox.ReadPending(500);
            Assert.Equal(Ids(100, 250), after.Select(p => p.Event.Id));
            Assert.Equal(250, outbox.PendingCount);

            // A mark older than the one given (a late answer) changes nothing.
            outbox.MarkDelivered(pending[49].End);
            Assert.Equal(Ids(100, 250), outbox.ReadPending(500).Select(p => p.Event.Id));

            outbox.MarkDelivered(after[199].End);
            Assert.Equal(Ids(300, 50), outbox.ReadPending(500).Select(p => p.Event.Id));
        }

        // What was kept in memory is not needed after a restart: the undelivered events are read from the log again.
        await using var reopened = new EventOutbox(dir, backend.Files);
        Assert.Equal(50, reopened.PendingCount);
        Assert.Equal(Ids(300, 50), reopened.ReadPending(500).Select(p => p.Event.Id));
    }

    [Fact]
    public async Task Events_appended_after_the_log_was_emptied_are_handed_out_from_its_new_start()
    {
        using var backend = LogBackend.Create("memory");
        await using var outbox = new EventOutbox(backend.PathOf("outbox"), backend.Files);

        // More than a MiB of events, all delivered: the log is emptied (its reset), and read on from 0 again.
        const int count = 16_000;
        await AppendAsync(outbox, 0, count);
        var delivered = 0;
        while (outbox.ReadPending(500) is { Count: > 0 } pending)
        {
            Assert.Equal(Ids(delivered, pending.Count), pending.Select(p => p.Event.Id));
            outbox.MarkDelivered(pending[^1].End);
            delivered += pending.Count;
        }

        Assert.Equal(count, delivered);
        Assert.Empty(backend.ReadAll(backend.PathOf("outbox/events.log")));

        await AppendAsync(outbox, count, 10);
        Assert.Equal(Ids(count, 10), outbox.ReadPending(500).Select(p => p.Event.Id));
    }
}
