using System.Text.RegularExpressions;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Google.Protobuf;
using RocksDbSharp;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// The families read by key (files, chunks, per-account chunks, the default family's tombstones) write sorted tables
/// with a Bloom filter, so a read of a key that is not there (every new chunk and file) skips the tables instead of
/// reading their blocks; the other families write none; and reads find exactly what was written, in a store whose older
/// tables have no filter as well.
/// </summary>
public sealed partial class TableFilterTests
{
    private static readonly string[] Filtered = ["default", "files", "chunks", "ns_chunks"];

    private static readonly byte[] One = [1];

    [Fact]
    public void Tables_of_the_families_read_by_key_carry_a_bloom_filter_and_the_others_none()
    {
        using var dir = new TempFolder();
        using var engine = RocksEngine.Open(dir.Path);
        WriteRecords(engine, 0, 2_000);
        engine.FlushAll();

        foreach (var (name, family) in Families(engine))
        {
            var filterBytes = FilterBlockBytes(engine, family);
            if (Filtered.Contains(name))
            {
                // At least the filter's bits for each key in the family's tables (2,000, or 667 tombstones, 1,333 chunks).
                var entries = TableEntries(engine, family);
                Assert.True(entries >= 600, $"{name}: {entries} entries");
                Assert.True(filterBytes >= entries * RocksEngine.TableFilterBitsPerKey / 8, $"{name}: filter block of {filterBytes} bytes for {entries} keys");
            }
            else
            {
                Assert.True(filterBytes == 0, $"{name}: filter block of {filterBytes} bytes");
            }
        }
    }

    [Fact]
    public void Reads_find_every_record_and_no_other_in_tables_written_with_and_without_filters()
    {
        using var dir = new TempFolder();
        // Written first without filters (a store from before them), then more with them, each flushed to its own tables.
        using (var before = RocksEngine.Open(dir.Path, tableFilters: false))
        {
            WriteRecords(before, 0, 3_000);
            before.FlushAll();
            Assert.Equal(0, FilterBlockBytes(before, before.Chunks));
        }

        using var engine = RocksEngine.Open(dir.Path);
        WriteRecords(engine, 3_000, 3_000);
        engine.FlushAll();
        Assert.True(FilterBlockBytes(engine, engine.Chunks) > 0);

        for (var n = 0; n < 6_000; n++)
        {
            var record = RecordBatch.ReadChunk(engine, Id(n));
            Assert.NotNull(record);
            // Every third is a tombstone (read from the default family once the chunk family has no such key).
            Assert.Equal(n % 3 == 0 ? ChunkState.Deleted : ChunkState.Stored, record!.State);
            Assert.Equal((uint)n, record.Size);
            Assert.NotNull(engine.Get(Keys.File("ns", $"f{n}"), engine.Files));
            Assert.NotNull(engine.Get(Keys.NamespaceChunk("ns", Id(n)), engine.NamespaceChunks));
        }

        for (var n = 6_000; n < 12_000; n++)
        {
            Assert.Null(RecordBatch.ReadChunk(engine, Id(n)));
            Assert.Null(engine.Get(Keys.File("ns", $"f{n}"), engine.Files));
            Assert.Null(engine.Get(Keys.NamespaceChunk("ns", Id(n)), engine.NamespaceChunks));
        }
    }

    private static IEnumerable<(string Name, ColumnFamilyHandle Family)> Families(RocksEngine engine) =>
    [
        ("default", engine.Meta), ("users", engine.Users), ("namespaces", engine.Namespaces), ("files", engine.Files),
        ("versions", engine.Versions), ("chunks", engine.Chunks), ("ns_chunks", engine.NamespaceChunks),
        ("changes", engine.Changes), ("nodes", engine.Nodes), ("gc", engine.Gc),
    ];

    /// <summary>Writes records of every family for ids <paramref name="from"/>.. (every third chunk a tombstone).</summary>
    private static void WriteRecords(RocksEngine engine, int from, int count)
    {
        using var batch = new WriteBatch();
        for (var n = from; n < from + count; n++)
        {
            var id = Id(n);
            var record = new ChunkRecord { State = n % 3 == 0 ? ChunkState.Deleted : ChunkState.Stored, Size = (uint)n };
            if (n % 3 == 0)
            {
                batch.Put(Keys.ChunkTombstone(id), record.ToByteArray(), engine.Meta);
            }
            else
            {
                batch.Put(Keys.Chunk(id), record.ToByteArray(), engine.Chunks);
            }

            batch.Put(Keys.NamespaceChunk("ns", id), new NamespaceChunkRecord { Refs = 1 }.ToByteArray(), engine.NamespaceChunks);
            batch.Put(Keys.File("ns", $"f{n}"), One, engine.Files);
            foreach (var family in new[] { engine.Users, engine.Namespaces, engine.Versions, engine.Changes, engine.Nodes, engine.Gc })
            {
                batch.Put(Keys.File("x", $"k{n}"), One, family);
            }
        }

        engine.Write(batch);
    }

    /// <summary>The family's tables' filter blocks in all, from RocksDB's aggregated table properties.</summary>
    private static long FilterBlockBytes(RocksEngine engine, ColumnFamilyHandle family)
    {
        var properties = engine.Property("rocksdb.aggregated-table-properties", family) ?? string.Empty;
        var match = FilterSize().Match(properties);
        Assert.True(match.Success, $"No filter block size in: {properties}");
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static long TableEntries(RocksEngine engine, ColumnFamilyHandle family)
    {
        var match = Entries().Match(engine.Property("rocksdb.aggregated-table-properties", family) ?? string.Empty);
        Assert.True(match.Success);
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static ChunkId Id(int n)
    {
        var bytes = new byte[ChunkId.Size];
        Assert.True(BitConverter.TryWriteBytes(bytes.AsSpan(0, 4), unchecked((uint)n * 2654435761u)));
        Assert.True(BitConverter.TryWriteBytes(bytes.AsSpan(28, 4), n));
        return new ChunkId(bytes);
    }

    [GeneratedRegex(@"# entries=(\d+)")]
    private static partial Regex Entries();

    [GeneratedRegex(@"filter block size=(\d+)")]
    private static partial Regex FilterSize();
}
