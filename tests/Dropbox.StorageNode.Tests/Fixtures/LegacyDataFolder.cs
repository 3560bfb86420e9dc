using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Fixtures;

/// <summary>
/// The storage data folder committed under <c>Fixtures/storage-v1</c>, written by the code as it was before the
/// durable-log rework (commit 6252c95): segments of the first record format, a text positions file naming a
/// FASTER checkpoint, an outbox log with a text "delivered" number. <see cref="WriteAsync"/> wrote it (run with
/// DBX_WRITE_STORAGE_FIXTURE=folder); the chunks are deterministic, so a test can rebuild what it must read back.
/// </summary>
public static class LegacyDataFolder
{
    /// <summary>Folder name of the fixture next to the test assembly.</summary>
    public const string Name = "storage-v1";

    /// <summary>Events the metadata node accepted before the "crash" (the rest are pending).</summary>
    public const int DeliveredEvents = 5;

    /// <summary>Every chunk put, in order.</summary>
    public static IReadOnlyList<(ChunkId Id, byte[] Bytes, bool Lz4)> Chunks { get; } = Enumerable.Range(0, 15)
        .Select(i => i % 4 == 3 ? With(TestChunks.Compressible(6_000 + (i * 997), 7_000 + i), lz4: true) : With(TestChunks.Random(5_000 + (i * 1_531), 7_000 + i), lz4: false))
        .ToList();

    /// <summary>Indexes of chunks deleted before the checkpoint.</summary>
    public static IReadOnlyList<int> DeletedBeforeCheckpoint { get; } = [2, 5];

    /// <summary>Chunks put after the checkpoint (replayed from the segments on open), from this index on.</summary>
    public const int FirstAfterCheckpoint = 12;

    /// <summary>Index of the chunk deleted after the checkpoint.</summary>
    public const int DeletedAfterCheckpoint = 7;

    /// <summary>True if chunk <paramref name="index"/> must be served.</summary>
    public static bool IsLive(int index) => !DeletedBeforeCheckpoint.Contains(index) && index != DeletedAfterCheckpoint;

    /// <summary>Engine options the fixture was written with (and is opened with).</summary>
    public static EngineOptions Options(string directory) => TestChunks.SmallEngine(directory) with { SegmentMaxBytes = 32 * 1024 };

    /// <summary>Encoded bytes as stored for chunk <paramref name="index"/>.</summary>
    public static (ChunkEncoding Encoding, byte[] Stored) Stored(int index)
    {
        var (_, bytes, lz4) = Chunks[index];
        if (!lz4)
        {
            return (ChunkEncoding.Raw, bytes);
        }

        var buffer = new byte[Lz4ChunkCodec.MaxEncodedLength(bytes.Length)];
        var encoding = Lz4ChunkCodec.EncodeWhole(bytes, buffer, out var written);
        return (encoding, buffer.AsSpan(0, written).ToArray());
    }

    /// <summary>Writes the fixture with the code of the day into <paramref name="directory"/> (must be empty).</summary>
    public static async Task WriteAsync(string directory)
    {
        var engine = ChunkEngine.Open(Options(directory));
        var outbox = new EventOutbox(Path.Combine(directory, "outbox"));
        var store = new ChunkStore(engine, outbox, new NodeId("fixture-node"));
        for (var i = 0; i < FirstAfterCheckpoint; i++)
        {
            await PutAsync(store, i);
        }

        await store.DeleteAsync(DeletedBeforeCheckpoint.Select(i => Chunks[i].Id).ToList(), CancellationToken.None);
        var pending = outbox.ReadPending(DeliveredEvents);
        outbox.MarkDelivered(pending[^1].End);
        await engine.CheckpointAsync(CancellationToken.None);

        for (var i = FirstAfterCheckpoint; i < Chunks.Count; i++)
        {
            await PutAsync(store, i);
        }

        await store.DeleteAsync([Chunks[DeletedAfterCheckpoint].Id], CancellationToken.None);

        // Stop as kill -9 would: no shutdown checkpoint, so the records after the one above are replayed on open.
        await engine.AbandonAsync();
        await outbox.DisposeAsync();

        // A torn record at the end of the last segment, as a power cut mid-write leaves it: cut on open.
        var last = Directory.GetFiles(Path.Combine(directory, "segments"), "*.seg").Order(StringComparer.Ordinal).Last();
        await using (var file = new FileStream(last, FileMode.Append))
        {
            var (id, bytes) = TestChunks.Random(3_000, 99);
            var header = new byte[LegacySegmentRecord.HeaderSize];
            LegacySegmentRecord.WriteHeader(header, RecordKind.Chunk, id, ChunkEncoding.Raw, bytes.Length, bytes);
            file.Write(header);
            file.Write(bytes.AsSpan(0, 1_000));
        }
    }

    private static ValueTask PutAsync(ChunkStore store, int index)
    {
        var (encoding, stored) = Stored(index);
        return store.PutAsync(Chunks[index].Id, encoding, Chunks[index].Bytes.Length, stored, "ns-" + (index % 3), CancellationToken.None);
    }

    private static (ChunkId, byte[], bool) With((ChunkId Id, byte[] Bytes) chunk, bool lz4) => (chunk.Id, chunk.Bytes, lz4);
}
