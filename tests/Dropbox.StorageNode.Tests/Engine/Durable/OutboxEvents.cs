using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>Numbered "stored" events for the outbox's tests, and appending many of them.</summary>
internal static class OutboxEvents
{
    public static StoredChunkEvent Event(int n) =>
        new(TestChunks.Random(16, n).Id, 1000 + n, ChunkEncoding.Raw, 1000 + n, "namespace-" + n);

    /// <summary>The ids of events <paramref name="from"/> to <paramref name="from"/> + <paramref name="count"/> - 1.</summary>
    public static IEnumerable<ChunkId> Ids(int from, int count) => Enumerable.Range(from, count).Select(n => Event(n).Id);

    /// <summary>Appends events <paramref name="from"/> on, in slices of 1,000 (the test's own queue stays small; each slice shares the group commit's fsyncs).</summary>
    public static async Task AppendAsync(EventOutbox outbox, int from, int count)
    {
        for (var start = from; start < from + count; start += 1000)
        {
            await Task.WhenAll(Enumerable.Range(start, Math.Min(1000, from + count - start)).Select(n => outbox.AppendAsync(Event(n), CancellationToken.None)))
                .WaitAsync(TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>The delivered mark in <paramref name="dir"/> as a restart would read it (0 when missing or unreadable).</summary>
    public static long MarkOnDisk(LogBackend backend, string dir)
    {
        var content = RecordFile.TryRead(backend.Inner, Path.Combine(dir, "delivered"), OutboxCodecs.Delivered.Instance, out long mark, out _);
        return content == RecordFileContent.Record ? mark : 0;
    }
}
