using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;
using static Dropbox.StorageNode.Tests.Engine.Durable.OutboxEvents;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>
/// Review probes (stop 55) of the outbox keeping the events it read until they are delivered: a failed fsync and its
/// rollback while events are kept, damage skipped on open met at the end of a kept read, the log's reset racing
/// appends, a late (stale) mark after a reset, and a reset whose fsync fails. Failing probes are evidence, not fixes.
/// </summary>
public sealed class OutboxReadOnceProbeTests
{
    private static IEnumerable<ChunkId> Ids(IEnumerable<int> ns) => ns.Select(n => Event(n).Id);

    /// <summary>Delivers everything pending, batch by batch as the reporter does; returns the ids handed out.</summary>
    private static List<ChunkId> DrainAll(EventOutbox outbox, int max = 500)
    {
        var seen = new List<ChunkId>();
        while (outbox.ReadPending(max) is { Count: > 0 } pending)
        {
            seen.AddRange(pending.Select(p => p.Event.Id));
            outbox.MarkDelivered(pending[^1].End);
        }

        return seen;
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Probe_a_failed_fsync_while_events_are_kept_hands_out_neither_the_rolled_back_events_nor_loses_later_ones(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var files = new FailingFlushFiles(backend.Files);
        var dir = backend.PathOf("outbox");
        await using (var outbox = new EventOutbox(dir, files))
        {
            await AppendAsync(outbox, 0, 10);
            Assert.Equal(Ids(Enumerable.Range(0, 10)), outbox.ReadPending(500).Select(p => p.Event.Id));

            // Part delivered, the rest kept; then a group whose fsync fails (its callers hear it, it is rolled back).
            var kept = outbox.ReadPending(500);
            outbox.MarkDelivered(kept[3].End);
            files.FailFlush = true;
            var failed = Enumerable.Range(10, 5).Select(n => outbox.AppendAsync(Event(n), CancellationToken.None)).ToList();
            foreach (var append in failed)
            {
                await Assert.ThrowsAsync<IOException>(() => append.WaitAsync(TimeSpan.FromSeconds(30)));
            }

            files.FailFlush = false;
            Assert.Equal(Ids(Enumerable.Range(4, 6)), outbox.ReadPending(500).Select(p => p.Event.Id));

            // Later groups land where the rolled-back one was; they follow the kept events, in order.
            await AppendAsync(outbox, 15, 5);
            var all = outbox.ReadPending(500);
            Assert.Equal(Ids(Enumerable.Range(4, 6).Concat(Enumerable.Range(15, 5))), all.Select(p => p.Event.Id));
            Assert.Equal(11, outbox.PendingCount);
            outbox.MarkDelivered(all[5].End);
            await AppendAsync(outbox, 20, 3);
        }

        await using var reopened = new EventOutbox(dir, backend.Files);
        Assert.Equal(Ids(Enumerable.Range(15, 8)), reopened.ReadPending(500).Select(p => p.Event.Id));
        Assert.Equal(8, reopened.PendingCount);
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Probe_a_kept_read_that_ends_just_before_damage_skipped_on_open_reads_on_past_it(string kind)
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
        bytes[(4 * frame) + 5] ^= 0x01; // event 4's header rots: skipped on open, from the end of event 3
        bytes[(7 * frame) + 5] ^= 0x01; // and event 7's
        backend.WriteAll(logPath, bytes);

        await using var reopened = new EventOutbox(dir, backend.Files);
        Assert.Equal(8, reopened.PendingCount);

        // The kept read ends exactly where the first damage starts; the next ask reads on from there, undelivered.
        Assert.Equal(Ids([0, 1, 2, 3]), reopened.ReadPending(4).Select(p => p.Event.Id));
        Assert.Equal(Ids([0, 1, 2, 3, 5, 6]), reopened.ReadPending(6).Select(p => p.Event.Id));
        var all = reopened.ReadPending(100);
        Assert.Equal(Ids([0, 1, 2, 3, 5, 6, 8, 9]), all.Select(p => p.Event.Id));

        // Delivered in two steps, the second ending at the last event: nothing left, nothing pending.
        reopened.MarkDelivered(all[5].End);
        Assert.Equal(Ids([8, 9]), reopened.ReadPending(100).Select(p => p.Event.Id));
        reopened.MarkDelivered(all[^1].End);
        Assert.Empty(reopened.ReadPending(100));
        Assert.Equal(0, reopened.PendingCount);
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Probe_the_logs_reset_racing_appends_hands_out_every_event_once(string kind)
    {
        using var backend = LogBackend.Create(kind);
        await using var outbox = new EventOutbox(backend.PathOf("outbox"), backend.Files);

        // Appends in small slices beside a reporter that delivers as fast as it can, so the log is emptied (every
        // time all is delivered past a MiB) while groups are being written and synced.
        const int count = 40_000;
        var appending = Task.Run(async () =>
        {
            for (var start = 0; start < count; start += 100)
            {
                await Task.WhenAll(Enumerable.Range(start, 100).Select(n => outbox.AppendAsync(Event(n), CancellationToken.None)));
            }
        });

        var seen = new List<ChunkId>();
        var resets = 0;
        var lastEnd = 0L;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (seen.Count < count && DateTime.UtcNow < deadline)
        {
            var pending = outbox.ReadPending(500);
            if (pending.Count == 0)
            {
                await outbox.WaitForEventsAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None);
                continue;
            }

            resets += pending[0].End < lastEnd ? 1 : 0;
            lastEnd = pending[^1].End;
            seen.AddRange(pending.Select(p => p.Event.Id));
            outbox.MarkDelivered(pending[^1].End);
        }

        await appending.WaitAsync(TimeSpan.FromSeconds(60));
        seen.AddRange(DrainAll(outbox));
        Assert.True(resets > 0, "the log must be emptied while events are appended for the probe to mean anything");
        Assert.Equal(count, seen.Count);
        Assert.Equal(count, seen.Distinct().Count());
        Assert.Equal(0, outbox.PendingCount);
    }

    [Fact]
    public async Task Probe_a_late_mark_from_before_the_logs_reset_does_not_lose_the_events_appended_after_it()
    {
        // Latent: the one reporter marks in order and never late; the public MarkDelivered allows it, and
        // OutboxReadOnceTests says of it "A mark older than the one given (a late answer) changes nothing".
        using var backend = LogBackend.Create("memory");
        await using var outbox = new EventOutbox(backend.PathOf("outbox"), backend.Files);
        await AppendAsync(outbox, 0, 16_000);
        var ends = new List<long>();
        while (outbox.ReadPending(500) is { Count: > 0 } pending)
        {
            ends.Add(pending[^1].End);
            outbox.MarkDelivered(pending[^1].End);
        }

        Assert.Empty(backend.ReadAll(backend.PathOf("outbox/events.log"))); // the reset happened

        // The answer for the second-to-last batch comes in late, after the last one emptied the log.
        outbox.MarkDelivered(ends[^2]);
        await AppendAsync(outbox, 16_000, 10);
        Assert.Equal(Ids(Enumerable.Range(16_000, 10)), outbox.ReadPending(500).Select(p => p.Event.Id));
    }

    [Theory]
    [MemberData(nameof(LogBackend.Kinds), MemberType = typeof(LogBackend))]
    public async Task Probe_a_reset_whose_fsync_fails_loses_no_event_appended_after_it(string kind)
    {
        using var backend = LogBackend.Create(kind);
        var files = new FailingFlushFiles(backend.Files);
        var dir = backend.PathOf("outbox");
        await using (var outbox = new EventOutbox(dir, files))
        {
            await AppendAsync(outbox, 0, 16_000);
            IReadOnlyList<(StoredChunkEvent Event, long End)> pending;
            while ((pending = outbox.ReadPending(500)).Count > 0 && pending[^1].End < backend.ReadAll(Path.Combine(dir, "events.log")).Length)
            {
                outbox.MarkDelivered(pending[^1].End);
            }

            // The last delivery empties the log; its fsync fails (SetLength(0) done, Flush throws).
            files.FailFlush = true;
            var thrown = Record.Exception(() => outbox.MarkDelivered(pending[^1].End));
            files.FailFlush = false;
            Assert.IsType<IOException>(thrown);

            await AppendAsync(outbox, 16_000, 10);
            Assert.Equal(Ids(Enumerable.Range(16_000, 10)), outbox.ReadPending(500).Select(p => p.Event.Id));
        }

        // Acknowledged events survive a restart.
        await using var reopened = new EventOutbox(dir, backend.Files);
        Assert.Equal(Ids(Enumerable.Range(16_000, 10)), reopened.ReadPending(500).Select(p => p.Event.Id));
    }

    [Fact]
    public async Task Probe_a_reset_whose_mark_write_fails_loses_no_event_appended_after_it_across_a_restart()
    {
        // The order was: the log emptied durably first, the mark 0 written after. If that write failed (the exception
        // leaves MarkDelivered) and the node went on, the mark file kept the old end; once the new log grew past it on a
        // record boundary (events of one size line up), a restart took it as valid and skipped every event before it.
        // Now the mark 0 is written first: when it fails, the log is not emptied, and a restart only re-delivers.
        using var backend = LogBackend.Create("memory");
        var files = new FailingFlushFiles(backend.Files);
        var dir = backend.PathOf("outbox");
        static StoredChunkEvent Same(int n) => new(TestChunks.Random(16, n).Id, 1000, ChunkEncoding.Raw, 1000, "ns");
        const int count = 16_000;
        const int later = 16_100;
        await using (var outbox = new EventOutbox(dir, files))
        {
            await Task.WhenAll(Enumerable.Range(0, count).Select(n => outbox.AppendAsync(Same(n), CancellationToken.None))).WaitAsync(TimeSpan.FromSeconds(60));
            IReadOnlyList<(StoredChunkEvent Event, long End)> pending;
            var length = backend.ReadAll(Path.Combine(dir, "events.log")).Length;
            while ((pending = outbox.ReadPending(500)).Count > 0 && pending[^1].End < length)
            {
                outbox.MarkDelivered(pending[^1].End);
            }

            files.FailMark = true;
            var thrown = Record.Exception(() => outbox.MarkDelivered(pending[^1].End));
            files.FailMark = false;
            Assert.IsType<IOException>(thrown);
            Assert.Equal(length, backend.ReadAll(Path.Combine(dir, "events.log")).Length); // not emptied without its mark

            await Task.WhenAll(Enumerable.Range(count, later).Select(n => outbox.AppendAsync(Same(n), CancellationToken.None))).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(later, outbox.PendingCount);
        }

        // The restart reads from the mark written when the outbox closed (the last batch's end: that batch was delivered,
        // only its reset failed; marks are written at most once a second and at closing since stop 56), then every
        // later event, none skipped.
        await using var reopened = new EventOutbox(dir, backend.Files);
        Assert.Equal(later, reopened.PendingCount);
        var seen = new List<ChunkId>();
        while (reopened.ReadPending(500) is { Count: > 0 } batch)
        {
            seen.AddRange(batch.Select(p => p.Event.Id));
            reopened.MarkDelivered(batch[^1].End);
        }

        Assert.Equal(Enumerable.Range(count, later).Select(n => Same(n).Id), seen);
    }

    [Fact]
    public async Task Probe_an_event_kept_in_memory_is_still_handed_out_after_its_frame_rots_on_disk()
    {
        // The change's effect on rot after a read: the kept copy (checked once) goes out; re-reading each time
        // skipped the rotten frame, and the next delivered end moved the mark past it.
        using var backend = LogBackend.Create("disk");
        var dir = backend.PathOf("outbox");
        await using var outbox = new EventOutbox(dir, backend.Files);
        await AppendAsync(outbox, 0, 10);
        var kept = outbox.ReadPending(500);
        var logPath = Path.Combine(dir, "events.log");
        var bytes = backend.ReadAll(logPath);
        var frame = bytes.Length / 10;
        bytes[(3 * frame) + frame - 1] ^= 0x01; // event 3's body
        backend.WriteAll(logPath, bytes);

        outbox.MarkDelivered(kept[1].End);
        Assert.Equal(Ids(Enumerable.Range(2, 8)), outbox.ReadPending(500).Select(p => p.Event.Id));
    }

    [Fact]
    public async Task Probe_asking_for_a_negative_number_of_events_answers_none_as_before()
    {
        using var backend = LogBackend.Create("memory");
        await using var outbox = new EventOutbox(backend.PathOf("outbox"), backend.Files);
        await AppendAsync(outbox, 0, 3);
        Assert.Empty(outbox.ReadPending(0));
        Assert.Empty(outbox.ReadPending(-1));
    }

    /// <summary>Files whose fsyncs of the outbox's log throw while <see cref="FailFlush"/> is set.</summary>
    private sealed class FailingFlushFiles(IEngineFiles inner) : IEngineFiles
    {
        public volatile bool FailFlush;

        public volatile bool FailMark;

        public void CreateDirectory(string path) => inner.CreateDirectory(path);

        public bool FileExists(string path) => inner.FileExists(path);

        public IReadOnlyList<string> ListFiles(string directory, string suffix) => inner.ListFiles(directory, suffix);

        public IEngineFile Open(string path, FileMode mode) => new FailingFile(this, inner.Open(path, mode), path);

        public void Move(string source, string destination)
        {
            if (FailMark && destination.EndsWith("delivered", StringComparison.Ordinal))
            {
                throw new IOException("injected EIO on the delivered mark's rename");
            }

            inner.Move(source, destination);
        }

        public void Delete(string path) => inner.Delete(path);

        public void SyncDirectory(string directory) => inner.SyncDirectory(directory);

        private sealed class FailingFile(FailingFlushFiles owner, IEngineFile inner, string path) : IEngineFile
        {
            public long Length => inner.Length;

            public int Read(Span<byte> destination, long offset) => inner.Read(destination, offset);

            public void Write(ReadOnlySpan<byte> source, long offset) => inner.Write(source, offset);

            public void SetLength(long length) => inner.SetLength(length);

            public void Flush()
            {
                if (owner.FailFlush && path.EndsWith("events.log", StringComparison.Ordinal))
                {
                    throw new IOException("injected EIO on the outbox log's fsync");
                }

                inner.Flush();
            }

            public bool TrySetDirect(bool enable) => inner.TrySetDirect(enable);

            public void Dispose() => inner.Dispose();
        }
    }
}
