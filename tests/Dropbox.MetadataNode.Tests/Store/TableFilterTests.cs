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
    public void Table_reader_memory_counts_the_filters_of_the_tables_written()
    {
        using var dir = new TempFolder();
        using var engine = RocksEngine.Open(dir.Path);
        Assert.Equal(0, engine.TableReaderBytes()); // no tables yet
        WriteRecords(engine, 0, 20_000);
        engine.FlushAll();
        // At least the filters' 10 bits for each of the 20,000 chunk-family, account-chunk and file keys.
        Assert.True(engine.TableReaderBytes() >= 3 * 20_000 * RocksEngine.TableFilterBitsPerKey / 8 * 2 / 3, $"{engine.TableReaderBytes()} bytes");
    }

    [Fact]
    public async Task Table_reader_memory_reads_zero_once_the_store_is_closed_and_a_close_waits_for_a_read()
    {
        using var dir = new TempFolder();
        var engine = RocksEngine.Open(dir.Path);
        WriteRecords(engine, 0, 2_000);
        engine.FlushAll();
        Assert.True(engine.TableReaderBytes() > 0);

        // A scrape racing the close: every read either sees the open store or reads 0, never the freed one.
        using var stop = new CancellationTokenSource();
        var count = 0;
        var reads = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested && count < 10_000_000)
            {
                Assert.True(engine.TableReaderBytes() >= 0);
                Interlocked.Increment(ref count);
            }
        });
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref count) >= 100, TimeSpan.FromSeconds(30)));
        engine.Dispose();
        Assert.Equal(0, engine.TableReaderBytes());
        stop.Cancel();
        await reads.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void The_new_table_factory_changes_nothing_but_the_filter_policy_of_the_four_families()
    {
        using var off = new TempFolder();
        using var on = new TempFolder();
        RocksEngine.Open(off.Path, tableFilters: false).Dispose();
        RocksEngine.Open(on.Path).Dispose();
        var before = File.ReadAllLines(LatestOptions(off.Path));
        var after = File.ReadAllLines(LatestOptions(on.Path));
        var differences = new List<string>();
        foreach (var family in RocksEngine.FamilyNames.Append("default"))
        {
            var a = Section(before, $"[TableOptions/BlockBasedTable \"{family}\"]");
            var b = Section(after, $"[TableOptions/BlockBasedTable \"{family}\"]");
            differences.AddRange(a.Except(b).Concat(b.Except(a)).Select(line => $"{family}: {line}"));
        }

        // Block size, cache, index type, format and checksum as before: only the filter, in exactly the four families.
        Assert.All(differences, d => Assert.Contains(": filter_policy=", d, StringComparison.Ordinal));
        Assert.Equal(Filtered.Order(), differences.Where(d => d.Contains("bloomfilter", StringComparison.Ordinal)).Select(d => d[..d.IndexOf(':', StringComparison.Ordinal)]).Order());
    }

    [Fact]
    public void Reads_and_scans_see_every_record_and_no_other_across_tables_with_and_without_filters()
    {
        using var dir = new TempFolder();
        // A store from before the filters, then tables with them, then more written by a binary without them (a
        // downgrade), which must read the filtered tables too; then settled by a compaction, and through a checkpoint
        // (what backups and the online check open).
        using (var older = RocksEngine.Open(dir.Path, tableFilters: false))
        {
            WriteRecords(older, 0, 2_000);
            older.FlushAll();
            Assert.Equal(0, FilterBlockBytes(older, older.Chunks));
        }

        using (var engine = RocksEngine.Open(dir.Path))
        {
            WriteRecords(engine, 2_000, 2_000);
            engine.FlushAll();
            Assert.True(FilterBlockBytes(engine, engine.Chunks) > 0, "the tables written with filters on have none");
            CheckReads(engine, 4_000, "mixed tables");
        }

        using (var older = RocksEngine.Open(dir.Path, tableFilters: false))
        {
            CheckReads(older, 4_000, "a binary without filters, mixed tables");
            WriteRecords(older, 4_000, 1_000);
            older.FlushAll();
        }

        using (var engine = RocksEngine.Open(dir.Path))
        {
            CheckReads(engine, 5_000, "three generations of tables");
            engine.CompactAll();
            CheckReads(engine, 5_000, "after a full compaction");
            using var copies = new TempFolder();
            var checkpoint = Path.Combine(copies.Path, "checkpoint");
            engine.Checkpoint(checkpoint);
            using var snapshot = RocksEngine.Open(checkpoint);
            CheckReads(snapshot, 5_000, "a checkpoint");
        }
    }

    /// <summary>Records 0..<paramref name="count"/> are found by key and by scan (every third chunk a tombstone), none after.</summary>
    private static void CheckReads(RocksEngine engine, int count, string what)
    {
        for (var n = 0; n < count; n++)
        {
            var record = RecordBatch.ReadChunk(engine, Id(n));
            Assert.True(record is not null, $"{what}: chunk {n} not found");
            Assert.Equal(n % 3 == 0 ? ChunkState.Deleted : ChunkState.Stored, record!.State);
            Assert.Equal((uint)n, record.Size);
            Assert.True(engine.Get(Keys.File("ns", $"f{n:D6}"), engine.Files) is not null, $"{what}: file {n} not found");
            Assert.True(engine.Get(Keys.NamespaceChunk("ns", Id(n)), engine.NamespaceChunks) is not null, $"{what}: account chunk {n} not found");
        }

        for (var n = count; n < count + 2_000; n++)
        {
            Assert.Null(RecordBatch.ReadChunk(engine, Id(n)));
            Assert.Null(engine.Get(Keys.File("ns", $"f{n:D6}"), engine.Files));
            Assert.Null(engine.Get(Keys.NamespaceChunk("ns", Id(n)), engine.NamespaceChunks));
        }

        Assert.Equal(count, engine.ScanPrefix(engine.Files, Keys.FilePrefix("ns", "f")).Count());
        Assert.Equal(count, engine.ScanPrefix(engine.NamespaceChunks, Keys.NamespaceChunkPrefix("ns")).Count());
        Assert.Equal(count - ((count + 2) / 3), engine.ScanAll(engine.Chunks).Count());
        var visited = 0;
        engine.Visit(engine.Files, Keys.FilePrefix("ns", "f"), Keys.File("ns", "f001000"), (_, _) => ++visited > 0);
        Assert.Equal(count - 1_000, visited);
    }

    private static string LatestOptions(string directory) =>
        Directory.GetFiles(directory, "OPTIONS-*").OrderBy(f => f, StringComparer.Ordinal).Last();

    private static HashSet<string> Section(string[] lines, string header)
    {
        var start = Array.FindIndex(lines, l => l.Trim() == header);
        Assert.True(start >= 0, $"No {header} in the options file.");
        var section = new HashSet<string>();
        for (var i = start + 1; i < lines.Length && !lines[i].TrimStart().StartsWith('['); i++)
        {
            if (lines[i].Trim().Length > 0)
            {
                section.Add(lines[i].Trim());
            }
        }

        return section;
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
            batch.Put(Keys.File("ns", $"f{n:D6}"), One, engine.Files);
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
