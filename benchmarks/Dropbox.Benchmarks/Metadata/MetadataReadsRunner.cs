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
/// <c>--chunks</c> records in a new folder, flushes it, reopens it (a cold block cache) and times
/// <c>--reads</c> reads of each kind; the two kinds of store alternate. Prints a table; asserts nothing.
/// <c>metadata-reads [--chunks N] [--reads N] [--rounds N]</c>
/// </summary>
public static class MetadataReadsRunner
{
    /// <summary>Runs the rounds.</summary>
    public static Task<int> RunAsync(string[] args)
    {
        var chunks = MetadataLoadRunner.IntArg(args, "--chunks", 2_000_000);
        var reads = MetadataLoadRunner.IntArg(args, "--reads", 200_000);
        var rounds = MetadataLoadRunner.IntArg(args, "--rounds", 3);
        var results = new Dictionary<bool, List<(double Absent, double Present, long Bytes)>> { [false] = [], [true] = [] };
        for (var round = 0; round < rounds; round++)
        {
            foreach (var filters in new[] { false, true })
            {
                var result = Measure(chunks, reads, filters);
                results[filters].Add(result);
                Console.WriteLine($"round {round + 1}, table filters {(filters ? "on " : "off")}: absent {result.Absent:F2} us, present {result.Present:F2} us per read; tables {result.Bytes / 1048576.0:F1} MiB");
            }
        }

        Console.WriteLine();
        Console.WriteLine($"| {chunks:N0} chunk records in sorted tables, {reads:N0} reads of each kind, {rounds} rounds (median) | filters off | filters on |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| a chunk not there (chunk family, then tombstones) | {Median(results[false], r => r.Absent):F2} us | {Median(results[true], r => r.Absent):F2} us |");
        Console.WriteLine($"| a chunk that is there | {Median(results[false], r => r.Present):F2} us | {Median(results[true], r => r.Present):F2} us |");
        Console.WriteLine($"| the store's folder | {Median(results[false], r => r.Bytes) / 1048576.0:F1} MiB | {Median(results[true], r => r.Bytes) / 1048576.0:F1} MiB |");
        return Task.FromResult(0);
    }

    private static double Median<T>(List<T> values, Func<T, double> of)
    {
        var sorted = values.Select(of).Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static (double Absent, double Present, long Bytes) Measure(int chunks, int reads, bool filters)
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
                for (var start = 0; start < chunks; start += 10_000)
                {
                    using var batch = new WriteBatch();
                    for (var i = start; i < Math.Min(chunks, start + 10_000); i++)
                    {
                        held[i] = RandomId();
                        batch.Put(Keys.Chunk(held[i]), value, engine.Chunks);
                    }

                    engine.Write(batch);
                }

                engine.FlushAll();
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

                return (absentUs, presentUs, bytes);
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
