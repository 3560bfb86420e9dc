using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A batch writes its staged records in key order (for the memtable's sake) and keeps only each chunk's last change to
/// the collection candidates: what lands must be exactly what was staged, whatever the order of the calls.
/// </summary>
public sealed class RecordBatchWriteOrderTests
{
    private static ChunkId Id(int n)
    {
        var bytes = new byte[ChunkId.Size];
        // Spread over the key space, staged in an order unlike the keys' own.
        Assert.True(BitConverter.TryWriteBytes(bytes.AsSpan(0, 4), unchecked((uint)n * 2654435761u)));
        bytes[31] = (byte)n;
        return new ChunkId(bytes);
    }

    [Fact]
    public void Records_staged_in_any_order_are_written_as_staged_and_the_last_candidate_change_wins()
    {
        using var dir = new TempFolder();
        using var engine = RocksEngine.Open(dir.Path);
        var ids = Enumerable.Range(1, 300).Select(Id).ToArray();
        using (var before = new RecordBatch(engine))
        {
            // Committed earlier: a candidate a later batch removes, a tombstone a later batch revives, a file it deletes.
            before.AddGcCandidate(ids[0]);
            before.AddGcCandidate(ids[1]);
            before.PutChunk(ids[2], new ChunkRecord { State = ChunkState.Deleted });
            before.PutFile("ns", "gone", new FileRecord { Current = new PathEntry { Path = "gone", Version = 1, Kind = PathKind.File } });
            before.Commit();
        }

        Assert.NotNull(engine.Get(Keys.ChunkTombstone(ids[2]), engine.Meta));

        using (var batch = new RecordBatch(engine))
        {
            batch.RemoveGcCandidate(ids[0]);                           // committed, removed: gone
            batch.RemoveGcCandidate(ids[1]);                           // committed, removed, added again: kept
            batch.AddGcCandidate(ids[1]);
            batch.AddGcCandidate(ids[3]);                              // added, removed in the same batch: never there
            batch.RemoveGcCandidate(ids[3]);
            batch.AddGcCandidate(ids[4]);                              // added twice: there
            batch.AddGcCandidate(ids[4]);
            for (var i = ids.Length - 1; i >= 2; i--)
            {
                _ = batch.GetChunk(ids[i]); // as the ledger does: a chunk is read before it is written
                batch.PutChunk(ids[i], new ChunkRecord { State = ChunkState.Stored, Size = (uint)i, Refcount = 1, Locations = { "n1" } });
                batch.PutNamespaceChunk(i % 2 == 0 ? "ns-b" : "ns-a", ids[i], new NamespaceChunkRecord { Refs = i });
                batch.PutFile("ns", $"f{i}", new FileRecord { Current = new PathEntry { Path = $"f{i}", Version = (ulong)i, Kind = PathKind.File } });
            }

            batch.PutChunk(ids[5], null);                              // staged, then deleted: nothing written for it
            batch.PutNamespaceChunk("ns-a", ids[5], null);
            batch.PutFile("ns", "gone", null);
            batch.Commit();
        }

        Assert.Null(engine.Get(Keys.Chunk(ids[0]), engine.Gc));
        Assert.NotNull(engine.Get(Keys.Chunk(ids[1]), engine.Gc));
        Assert.Null(engine.Get(Keys.Chunk(ids[3]), engine.Gc));
        Assert.NotNull(engine.Get(Keys.Chunk(ids[4]), engine.Gc));
        Assert.Equal(2, engine.ScanAll(engine.Gc).Count());
        Assert.Null(engine.Get(Keys.ChunkTombstone(ids[2]), engine.Meta)); // revived: its tombstone removed
        Assert.Null(engine.Get(Keys.File("ns", "gone"), engine.Files));
        Assert.Null(RecordBatch.ReadChunk(engine, ids[5]));
        Assert.Null(engine.Get(Keys.NamespaceChunk("ns-a", ids[5]), engine.NamespaceChunks));

        using var read = new RecordBatch(engine);
        for (var i = 2; i < ids.Length; i++)
        {
            if (i == 5)
            {
                continue;
            }

            Assert.Equal((uint)i, read.GetChunk(ids[i])!.Size);
            Assert.Equal(i, read.GetNamespaceChunk(i % 2 == 0 ? "ns-b" : "ns-a", ids[i])!.Refs);
            Assert.Equal((ulong)i, read.GetFile("ns", $"f{i}")!.Current.Version);
        }

        Assert.Equal(ids.Length - 3, engine.ScanAll(engine.Chunks).Count());
        Assert.Equal(ids.Length - 3, engine.ScanAll(engine.NamespaceChunks).Count());
        Assert.Equal(ids.Length - 2, engine.ScanAll(engine.Files).Count());
    }

    [Fact]
    public void The_families_read_by_key_have_the_memtable_filter_and_the_others_do_not()
    {
        using var dir = new TempFolder();
        using (RocksEngine.Open(dir.Path))
        {
        }

        // RocksDB writes each family's options to its OPTIONS file on open.
        var filtered = new Dictionary<string, bool>();
        string? family = null;
        foreach (var line in File.ReadLines(Directory.GetFiles(dir.Path, "OPTIONS-*").Order().Last()))
        {
            var t = line.Trim();
            if (t.StartsWith("[CFOptions \"", StringComparison.Ordinal))
            {
                family = t["[CFOptions \"".Length..^2];
            }
            else if (family is not null && t.StartsWith("memtable_whole_key_filtering=", StringComparison.Ordinal))
            {
                filtered[family] = t.EndsWith("=true", StringComparison.Ordinal);
            }
        }

        foreach (var name in new[] { "default", "files", "chunks", "ns_chunks" })
        {
            Assert.True(filtered.GetValueOrDefault(name), $"family {name} has no memtable filter ({string.Join(", ", filtered)})");
        }

        Assert.False(filtered.GetValueOrDefault("changes"), "the change log is read by range, not by key");
    }

    [Fact]
    public void A_record_deleted_in_the_memtable_over_an_older_one_on_disk_reads_as_deleted_in_every_filtered_family()
    {
        // The memtable's Bloom filter must hold deletes too: were a delete left out, a read would skip the memtable
        // and find the older record in the table file below it.
        using var dir = new TempFolder();
        using var engine = RocksEngine.Open(dir.Path);
        var ids = Enumerable.Range(1, 200).Select(Id).ToArray();
        using (var write = new RecordBatch(engine))
        {
            foreach (var id in ids)
            {
                write.PutChunk(id, new ChunkRecord { State = ChunkState.Deleted }); // a tombstone: the default family
                write.PutNamespaceChunk("ns", id, new NamespaceChunkRecord { UploadedUnixMs = 1 });
                write.PutFile("ns", id.ToString(), new FileRecord { Current = new PathEntry { Path = id.ToString(), Version = 1, Kind = PathKind.File } });
            }

            write.Commit();
        }

        engine.Checkpoint(dir.Path + "-checkpoint"); // flushes the memtables: the records are in table files now
        using (var write = new RecordBatch(engine))
        {
            for (var i = 0; i < ids.Length; i += 2)
            {
                write.PutChunk(ids[i], new ChunkRecord { State = ChunkState.Stored, Size = 7, Locations = { "n1" } }); // tombstone removed
                write.PutNamespaceChunk("ns", ids[i], null);
                write.PutFile("ns", ids[i].ToString(), null);
            }

            write.Commit();
        }

        using var read = new RecordBatch(engine);
        for (var i = 0; i < ids.Length; i++)
        {
            var deleted = i % 2 == 0;
            Assert.Equal(deleted ? ChunkState.Stored : ChunkState.Deleted, read.GetChunk(ids[i])!.State);
            Assert.Equal(deleted, read.GetNamespaceChunk("ns", ids[i]) is null);
            Assert.Equal(deleted, read.GetFile("ns", ids[i].ToString()) is null);
        }
    }
}
