using System.Security.Cryptography;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Tests.Engine.PowerLoss;

/// <summary>
/// Runs the chunk engine over <see cref="MemoryFiles"/> and cuts the power at seeded random points: puts in
/// concurrent groups (group commit), deletes, checkpoints, compactions and reads, until the cut; then recovers a
/// new engine over what survived and checks every acknowledged chunk is readable with bytes that hash to its id,
/// nothing served is torn, and no acknowledged delete is undone. The acknowledged set carries over every crash of a
/// run, so a chunk must survive all later cuts and recoveries too (including a cut during a recovery).
/// The FASTER index keeps its own files in a real folder (not simulated; see the report of issue 10): a cut drops
/// the positions file's unsynced renames, which name the checkpoint to recover, and now and then the whole index
/// folder, to force a rebuild from the segments.
/// </summary>
public static class PowerLossSimulation
{
    internal const string Root = "/sim";
    private const int ChunkPool = 160;

    public static async Task<PowerLossReport> RunAsync(int seed, int crashes, string indexDirectory, bool directorySyncWorks = true, Microsoft.Extensions.Logging.ILogger? trace = null)
    {
        var report = new PowerLossReport(seed);
        var rng = new Random(seed);
        var files = new MemoryFiles(Root) { DirectorySyncWorks = directorySyncWorks };
        var acked = new Dictionary<ChunkId, int>();
        var deleted = new HashSet<ChunkId>();
        var options = Options(files, indexDirectory);

        // Checkpoints whose folder the simulation dropped on purpose: a positions file naming one must rebuild.
        var dropped = new HashSet<string>(StringComparer.Ordinal);
        for (var crash = 0; crash <= crashes; crash++)
        {
            var last = crash == crashes;
            files.KeepUnsyncedProbability = rng.Next(3) == 0 ? rng.NextDouble() * 0.8 : 0;
            var cutAfter = rng.Next(1, 250);
            var cutRandom = new Random(rng.Next());
            if (!last)
            {
                files.CrashAfter(cutAfter, cutRandom);
            }

            var named = NamedCheckpoint(files);
            ChunkEngine? engine = null;
            try
            {
                trace?.LogInformation("--- open after crash {Crash}", crash);
                engine = ChunkEngine.Open(options with { Files = files }, trace);
            }
            catch (IOException) when (files.Crashed)
            {
                report.CrashesDuringRecovery++;
            }

            if (engine is not null)
            {
                if (engine.CheckpointLost && !dropped.Contains(named ?? string.Empty))
                {
                    // The durable positions file named a checkpoint that is gone though its folder was not dropped.
                    report.CheckpointsLost++;
                }

                if (!await TryVerifyAsync(engine, files, acked, deleted, report, crash).ConfigureAwait(false))
                {
                    // The cut armed before the recovery fell in the checks: a scrub that finds a torn chunk quarantines
                    // it, and that is a write. A cut there is a cut like any other; the next recovery checks again.
                    report.CrashesDuringChecks++;
                    await engine.AbandonAsync().ConfigureAwait(false);
                    report.Crashes++;
                    files = files.Survivors!;
                    continue;
                }

                if (trace is not null)
                {
                    foreach (var id in acked.Keys)
                    {
                        engine.TryGetLocation(id, out var where);
                        trace.LogInformation("loc {Id} {Where}", id.ToShortString(), where);
                    }
                }

                if (last)
                {
                    await engine.DisposeAsync().ConfigureAwait(false);
                    break;
                }

                await WorkAsync(engine, files, rng, acked, deleted, report, trace).ConfigureAwait(false);
                files.CrashNow(cutRandom);
                await engine.AbandonAsync().ConfigureAwait(false);
            }

            report.Crashes++;
            files = files.Survivors!;
            if (rng.Next(10) == 0 && Directory.Exists(indexDirectory))
            {
                dropped.Add(NamedCheckpoint(files) ?? string.Empty);
                trace?.LogInformation("index folder dropped");
                Directory.Delete(indexDirectory, recursive: true);
                report.IndexRebuilds++;
            }
        }

        return report;
    }

    /// <summary>The engine's settings under the simulation: tiny segments, batches and index, so cuts hit every stage.</summary>
    internal static EngineOptions Options(MemoryFiles files, string indexDirectory) => new()
    {
        Directory = Root,
        Files = files,
        IndexDirectory = indexDirectory,
        CheckpointInterval = TimeSpan.Zero,
        IndexSizeBytes = 1L << 12,
        IndexMemoryBytes = 1L << 15,
        IndexPageSizeBytes = 1L << 12,
        SegmentMaxBytes = 24 * 1024,
        MaxBatchBytes = 16 * 1024,
        CompactionDeadFraction = 0.3,
    };

    private static string? NamedCheckpoint(MemoryFiles files) =>
        PositionsFile.Read(files, Root + "/index/positions")?.Token.ToString("D");

    // The pool's bytes, made once: every put, read and check compares with these. Making them afresh for each
    // comparison took a tenth of the thousand-cut test's CPU. Handed out read-only, so nothing can change the pool.
    private static readonly byte[][] Pool = Enumerable.Range(0, ChunkPool).Select(MakeChunkBytes).ToArray();

    internal static ReadOnlyMemory<byte> ChunkBytes(int n) => Pool[n];

    private static byte[] MakeChunkBytes(int n)
    {
        var random = new Random(n * 7919 + 13);
        var bytes = new byte[random.Next(100, 5000)];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Runs the checks; false when the power was cut during them (nothing more can be checked until the next recovery).</summary>
    internal static async Task<bool> TryVerifyAsync(ChunkEngine engine, MemoryFiles files, Dictionary<ChunkId, int> acked, HashSet<ChunkId> deleted, PowerLossReport report, int crash)
    {
        try
        {
            await VerifyAsync(engine, files, acked, deleted, report, crash).ConfigureAwait(false);
            return true;
        }
        catch (Exception) when (files.Crashed)
        {
            return false;
        }
    }

    private static async Task VerifyAsync(ChunkEngine engine, MemoryFiles files, Dictionary<ChunkId, int> acked, HashSet<ChunkId> deleted, PowerLossReport report, int crash)
    {
        foreach (var (id, n) in acked.ToList())
        {
            report.AcknowledgedChecks++;
            string? problem;
            try
            {
                using var chunk = await engine.ReadAsync(id, CancellationToken.None).ConfigureAwait(false);
                problem = chunk is null ? "missing"
                    : !chunk.Data.Span.SequenceEqual(ChunkBytes(n).Span) ? "wrong bytes"
                    : null;
            }
            catch (Exception ex) when (!files.Crashed)
            {
                problem = ex.GetType().Name + ": " + ex.Message;
            }

            if (problem is not null)
            {
                report.Lost.Add($"seed {report.Seed}, after crash {crash}: acknowledged chunk {id.ToShortString()} (#{n}) {problem}");
                acked.Remove(id);
            }
        }

        foreach (var id in deleted.ToList())
        {
            if (engine.Contains(id))
            {
                deleted.Remove(id);
                if (engine.RebuiltIndex)
                {
                    // A full rebuild replays every segment; a tombstone whose segment compaction dropped no longer
                    // hides an older copy. Counted, not failed: the bytes are right, only their space is not reclaimed.
                    report.ResurrectedByRebuild++;
                    continue;
                }

                report.Resurrected.Add($"seed {report.Seed}, after crash {crash}: deleted chunk {id.ToShortString()} is back");
            }
        }

        // Every chunk the index serves must hash to its id: nothing torn or half-written.
        var scrub = await engine.ScrubAsync((id, chunk) => ChunkId.Compute(chunk.Data.Span) == id, CancellationToken.None).ConfigureAwait(false);
        foreach (var id in scrub.Corrupt)
        {
            report.Torn.Add($"seed {report.Seed}, after crash {crash}: served chunk {id.ToShortString()} does not hash to its id");
        }
    }

    private static async Task WorkAsync(ChunkEngine engine, MemoryFiles files, Random rng, Dictionary<ChunkId, int> acked, HashSet<ChunkId> deleted, PowerLossReport report, Microsoft.Extensions.Logging.ILogger? trace)
    {
        for (var step = 0; step < 400 && !files.Crashed; step++)
        {
            try
            {
                var roll = rng.Next(100);
                if (roll < 60)
                {
                    // A group of concurrent puts: the writer batches them under one fsync.
                    var group = Enumerable.Range(0, rng.Next(1, 9)).Select(_ => rng.Next(ChunkPool)).Distinct().ToList();
                    var puts = group.Select(n =>
                    {
                        var bytes = ChunkBytes(n);
                        var id = ChunkId.Compute(bytes.Span);
                        return (N: n, Id: id, Task: engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None).AsTask());
                    }).ToList();
                    foreach (var put in puts)
                    {
                        try
                        {
                            await put.Task.ConfigureAwait(false);
                        }
                        catch (Exception) when (files.Crashed)
                        {
                            // A put cut short may still have landed: a deleted chunk may be back legitimately.
                            deleted.Remove(put.Id);
                            continue;
                        }

                        // Acknowledged: the caller would now tell the metadata node "stored".
                        trace?.LogInformation("acked {Id} #{N}", put.Id.ToShortString(), put.N);
                        if (acked.TryAdd(put.Id, put.N))
                        {
                            report.Acknowledged++;
                        }

                        deleted.Remove(put.Id);
                    }
                }
                else if (roll < 75 && acked.Count > 0)
                {
                    // Until the delete is acknowledged the chunk may or may not be gone after a crash: stop expecting it.
                    var id = acked.Keys.ElementAt(rng.Next(acked.Count));
                    acked.Remove(id);
                    await engine.DeleteAsync(id, CancellationToken.None).ConfigureAwait(false);
                    trace?.LogInformation("deleted {Id}", id.ToShortString());
                    acked.Remove(id);
                    deleted.Add(id);
                }
                else if (roll < 85)
                {
                    trace?.LogInformation("checkpoint");
                    await engine.CheckpointAsync(CancellationToken.None).ConfigureAwait(false);
                    trace?.LogInformation("checkpoint done");
                }
                else if (roll < 93)
                {
                    trace?.LogInformation("compact");
                    var compacted = await engine.CompactAsync(CancellationToken.None).ConfigureAwait(false);
                    trace?.LogInformation("compacted {Count}", compacted);
                }
                else if (acked.Count > 0)
                {
                    var (id, n) = acked.ElementAt(rng.Next(acked.Count));
                    using var chunk = await engine.ReadAsync(id, CancellationToken.None).ConfigureAwait(false);
                    if (chunk is null || !chunk.Data.Span.SequenceEqual(ChunkBytes(n).Span))
                    {
                        report.Lost.Add($"seed {report.Seed}: acknowledged chunk {id.ToShortString()} unreadable while running");
                        acked.Remove(id);
                    }
                }
            }
            catch (Exception) when (files.Crashed)
            {
                return;
            }
        }
    }
}
