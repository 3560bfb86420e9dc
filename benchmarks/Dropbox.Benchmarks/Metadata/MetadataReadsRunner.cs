using System.Diagnostics;
using System.Security.Cryptography;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using RocksDbSharp;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// The metadata store's point reads once its records sit in sorted tables (a store that has run a while), with and
/// without the tables' Bloom filters, side by side in one run: a chunk that is not there (what every plan and "stored"
/// report of a new chunk asks: the chunk family, then the tombstones), and a chunk that is. Each round builds a store of
/// <c>--chunks</c> chunk records (and a tombstone for every tenth as many other ids) in a new folder, flushes it (with
/// <c>--settled</c> also compacts it), reopens it (a cold block cache; the tables are still in the page cache, so this
/// measures CPU, not the disk) and times <c>--reads</c> reads of each kind; the two kinds of store alternate. Prints a
/// table with the tables' layout and their readers' memory; asserts nothing.
/// <c>metadata-reads [--chunks N] [--reads N] [--rounds N] [--settled]</c>
/// </summary>
public static class MetadataReadsRunner
{
    /// <summary>Runs the rounds.</summary>
    public static Task<int> RunAsync(string[] args)
    {
        var chunks = MetadataLoadRunner.IntArg(args, "--chunks", 1_000_000);
        var settled = args.Contains("--settled");
        var reads = MetadataLoadRunner.IntArg(args, "--reads", 200_000);
        var rounds = MetadataLoadRunner.IntArg(args, "--rounds", 3);
        var results = new Dictionary<bool, List<Result>> { [false] = [], [true] = [] };
        for (var round = 0; round < rounds; round++)
        {
            foreach (var filters in new[] { false, true })
            {
                var result = Measure(chunks, reads, filters, settled);
                results[filters].Add(result);
                Console.WriteLine($"round {round + 1}, table filters {(filters ? "on " : "off")}: absent {result.Absent:F2} us, present {result.Present:F2} us per read; tables {result.Bytes / 1048576.0:F1} MiB ({result.Layout}), table readers {result.ReaderBytes / 1048576.0:F1} MiB");
            }
        }

        Console.WriteLine();
        Console.WriteLine($"| {chunks:N0} chunk records in sorted tables{(settled ? ", compacted" : string.Empty)}, {reads:N0} reads of each kind, {rounds} rounds (median) | filters off | filters on |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| a chunk not there (chunk family, then tombstones) | {Median(results[false], r => r.Absent):F2} us | {Median(results[true], r => r.Absent):F2} us |");
        Console.WriteLine($"| a chunk that is there | {Median(results[false], r => r.Present):F2} us | {Median(results[true], r => r.Present):F2} us |");
        Console.WriteLine($"| the store's tables | {Median(results[false], r => r.Bytes) / 1048576.0:F1} MiB | {Median(results[true], r => r.Bytes) / 1048576.0:F1} MiB |");
        Console.WriteLine($"| table readers' memory (heap, outside the block cache) | {Median(results[false], r => r.ReaderBytes) / 1048576.0:F1} MiB | {Median(results[true], r => r.ReaderBytes) / 1048576.0:F1} MiB |");
        return Task.FromResult(0);
    }

    private static double Median<T>(List<T> values, Func<T, double> of)
    {
        var sorted = values.Select(of).Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private sealed record Result(double Absent, double Present, long Bytes, long ReaderBytes, string Layout);

    private static Result Measure(int chunks, int reads, bool filters, bool settled)
    {
        var directory = Path.Combine(Path.GetTempPath(), "md-reads-" + Guid.NewGuid().ToString("N"));
        try
        {
            var held = new ChunkId[chunks];
            using (var engine = RocksEngine.Open(directory, filters))
            {
                var record = new ChunkRecord { State = ChunkState.Stored, Size = 4096, StoredSize = 4096, Refcount = 1 };
                record.Locations.Add("node-1");
                var value = Google.Protobuf.MessageExtensions.ToByteArray(record);
                var tombstone = Google.Protobuf.MessageExtensions.ToByteArray(new ChunkRecord { State = ChunkState.Deleted });
                for (var start = 0; start < chunks; start += 10_000)
                {
                    using var batch = new WriteBatch();
                    for (var i = start; i < Math.Min(chunks, start + 10_000); i++)
                    {
                        held[i] = RandomId();
                        batch.Put(Keys.Chunk(held[i]), value, engine.Chunks);
                        if (i % 10 == 0)
                        {
                            batch.Put(Keys.ChunkTombstone(RandomId()), tombstone, engine.Meta);
                        }
                    }

                    engine.Write(batch);
                }

                engine.FlushAll();
                if (settled)
                {
                    engine.CompactAll();
                }
            }

            var bytes = new DirectoryInfo(directory).EnumerateFiles("*.sst").Sum(f => f.Length);
            using (var engine = RocksEngine.Open(directory, filters))
            {
                var absent = Enumerable.Range(0, reads).Select(_ => RandomId()).ToArray();
                var present = Enumerable.Range(0, reads).Select(i => held[(int)((long)i * 7919 % chunks)]).ToArray();
                var found = 0;
                var watch = Stopwatch.StartNew();
                foreach (var id in absent)
                {
                    found += RecordBatch.ReadChunk(engine, id) is null ? 0 : 1;
                }

                var absentUs = watch.Elapsed.TotalMicroseconds / reads;
                watch.Restart();
                foreach (var id in present)
                {
                    found += RecordBatch.ReadChunk(engine, id) is null ? 0 : 1;
                }

                var presentUs = watch.Elapsed.TotalMicroseconds / reads;
                if (found != reads)
                {
                    throw new InvalidOperationException($"Read {found} chunks of the {reads} written.");
                }

                var layout = string.Join(", ", Enumerable.Range(0, 7)
                    .Select(level => (Level: level, Files: engine.Property($"rocksdb.num-files-at-level{level}", engine.Chunks)))
                    .Where(l => l.Files is not null and not "0")
                    .Select(l => $"L{l.Level}: {l.Files} files"));
                return new Result(absentUs, presentUs, bytes, engine.TableReaderBytes(), "chunks " + layout);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static ChunkId RandomId()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return new ChunkId(bytes);
    }
}
