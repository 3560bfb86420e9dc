using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>
/// Review probe (stop 56): a power cut at every mutating call of a scenario with marks behind, resets of the log (over
/// 1 MiB, all delivered) and a clean restart, unsynced writes kept by chance: the restart may deliver events again,
/// never skip one that was acknowledged and not sent.
/// </summary>
public sealed class OutboxMarkPowerCutProbeTests
{
    private const string Dir = "/mem/outbox";

    // ~300-byte records, all of one size (a stale mark then falls on a record boundary): 4,000 events are over the 1 MiB above which a fully delivered log is emptied.
    private static readonly StoredChunkEvent[] Events = Enumerable.Range(0, 8_500)
        .Select(n => new StoredChunkEvent(TestChunks.Random(16, 900_000 + n).Id, 1000, ChunkEncoding.Raw, 1000, new string('n', 240) + n.ToString("D5", System.Globalization.CultureInfo.InvariantCulture)))
        .ToArray();

    private static readonly Dictionary<ChunkId, int> Numbers = Events.Select((e, n) => (e.Id, n)).ToDictionary(p => p.Id, p => p.n);

    [Theory]
    [InlineData(0)] // every mark written at its delivery (as before stop 56)
    [InlineData(3_600_000)] // only the first, the resets' and the close's
    public async Task Probe_no_acknowledged_event_is_skipped_after_a_power_cut_at_any_call(int intervalMs)
    {
        var interval = TimeSpan.FromMilliseconds(intervalMs);
        var whole = new MemoryFiles("/mem");
        var full = new State();
        await RunAsync(whole, interval, full);
        Assert.Null(full.Stopped);
        Assert.True(full.Resets >= 2, $"the scenario must empty the log twice (it did {full.Resets} times)");
        var calls = whole.Calls;

        var failures = new List<string>();
        for (var run = 0L; run <= 3 * calls; run++)
        {
            // Three seeds for each cut: which unsynced writes and renames survive.
            var k = run / 3;
            var files = new MemoryFiles("/mem") { KeepUnsyncedProbability = 0.5 };
            files.CrashAfter(k, new Random((int)run));
            var state = new State();
            await RunAsync(files, interval, state);
            files.CrashNow(new Random((int)run));

            await using var reopened = new EventOutbox(Dir, files.Survivors!, interval);
            var again = new HashSet<int>();
            while (reopened.ReadPending(500) is { Count: > 0 } batch)
            {
                again.UnionWith(batch.Select(p => Numbers[p.Event.Id]));
                reopened.MarkDelivered(batch[^1].End);
            }

            var skipped = state.Acked.Where(n => !state.Sent.Contains(n) && !again.Contains(n)).ToList();
            if (skipped.Count > 0)
            {
                failures.Add($"cut after {k} calls, run {run} ({state.Stopped?.Message}): {skipped.Count} acknowledged, unsent events skipped, first {skipped[0]}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    private static async Task RunAsync(MemoryFiles files, TimeSpan interval, State state)
    {
        EventOutbox? outbox = null;
        try
        {
            outbox = new EventOutbox(Dir, files, interval);
            await AppendAsync(outbox, state, 4_000);
            Deliver(outbox, state, 3);
            await AppendAsync(outbox, state, 100);
            state.Resets += Deliver(outbox, state, int.MaxValue) ? 1 : 0;
            await AppendAsync(outbox, state, 300);
            Deliver(outbox, state, 1);

            // A clean restart.
            await outbox.DisposeAsync();
            outbox = new EventOutbox(Dir, files, interval);
            await AppendAsync(outbox, state, 4_000);
            Deliver(outbox, state, 2);
            state.Resets += Deliver(outbox, state, int.MaxValue) ? 1 : 0;
            await AppendAsync(outbox, state, 50);
            Deliver(outbox, state, 1);
            await AppendAsync(outbox, state, 50);
        }
        catch (IOException ex)
        {
            state.Stopped = ex;
        }
        finally
        {
            if (outbox is not null)
            {
                await outbox.DisposeAsync();
            }
        }
    }

    private static async Task AppendAsync(EventOutbox outbox, State state, int count)
    {
        for (var start = state.Next; start < state.Next + count; start += 256)
        {
            var slice = Enumerable.Range(start, Math.Min(256, state.Next + count - start)).ToList();
            var tasks = slice.Select(n => outbox.AppendAsync(Events[n], CancellationToken.None)).ToList();
            try
            {
                await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
            }
            finally
            {
                state.Acked.AddRange(slice.Where((_, i) => tasks[i].IsCompletedSuccessfully));
            }
        }

        state.Next += count;
    }

    /// <summary>Delivers up to <paramref name="batches"/> batches as the reporter does; true if the last one emptied a log over 1 MiB.</summary>
    private static bool Deliver(EventOutbox outbox, State state, int batches)
    {
        var emptied = false;
        for (var i = 0; i < batches && outbox.ReadPending(500) is { Count: > 0 } pending; i++)
        {
            // Reported before the mark moves: sent, whatever MarkDelivered does.
            state.Sent.UnionWith(pending.Select(p => Numbers[p.Event.Id]));
            var end = pending[^1].End;
            outbox.MarkDelivered(end);
            emptied = end > 1 << 20 && outbox.PendingCount == 0 && outbox.ReadPending(1).Count == 0;
        }

        return emptied;
    }

    private sealed class State
    {
        public int Next;

        public int Resets;

        public IOException? Stopped;

        public List<int> Acked { get; } = [];

        public HashSet<int> Sent { get; } = [];
    }
}
