using System.Collections.Concurrent;
using System.Globalization;
using Xunit.Abstractions;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// The deterministic simulation of the whole client over many seeds (see <see cref="SimWorld"/>). A failure prints its
/// seed and operation log; <c>SIM_SEED=n</c> replays that one seed (with its log), <c>SIM_SEEDS=n</c> sets how many the
/// CI run takes.
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    /// <summary>Agitation steps per seed in CI (user operations, passes, time jumps; faults and crashes come on top).</summary>
    private static int CiSteps => Environment.GetEnvironmentVariable("SIM_STEPS") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 14;

    /// <summary>Seeds run twice by the determinism test in CI (SIM_DETERMINISM_SEEDS: how many); the long profile takes 5,000.</summary>
    private static IEnumerable<int> DeterminismSeeds => Enumerable.Range(1, Environment.GetEnvironmentVariable("SIM_DETERMINISM_SEEDS") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 100);

    private static int CiSeeds => Environment.GetEnvironmentVariable("SIM_SEEDS") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 1000;

    /// <summary>The first seed of the CI run (SIM_FIRST_SEED: another window of seeds).</summary>
    private static int FirstSeed => Environment.GetEnvironmentVariable("SIM_FIRST_SEED") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 1;

    [Fact]
    public async Task A_thousand_seeded_runs_of_two_or_three_devices_converge_without_losing_content()
    {
        if (Environment.GetEnvironmentVariable("SIM_SEED") is { } one)
        {
            await ReplayAsync(int.Parse(one, CultureInfo.InvariantCulture));
            return;
        }

        await RunSeedsAsync(Enumerable.Range(FirstSeed, CiSeeds), CiSteps);
    }

    [Fact]
    [Trait("Category", "Long")]
    public Task Fifty_thousand_longer_seeded_runs_converge_without_losing_content() =>
        RunSeedsAsync(Enumerable.Range(1_000_001, 50_000), 40);

    [Fact]
    public Task Seeded_runs_with_a_stable_age_longer_than_a_settle_round_converge_only_once_nothing_waits() =>
        RunSeedsAsync(Enumerable.Range(FirstSeed, Math.Min(CiSeeds, 100)), CiSteps, stableAge: TimeSpan.FromMinutes(2));

    [Fact]
    public Task The_same_seed_gives_the_same_run() => SameRunsAsync(DeterminismSeeds);

    [Fact]
    [Trait("Category", "Long")]
    public Task Five_thousand_seeds_each_give_the_same_run_twice() => SameRunsAsync(Enumerable.Range(1, 5000));

    private static async Task SameRunsAsync(IEnumerable<int> seeds)
    {
        foreach (var seed in seeds)
        {
            var first = await RunOneAsync(seed, CiSteps);
            var second = await RunOneAsync(seed, CiSteps);
            Assert.True(first.Log.SequenceEqual(second.Log), $"seed {seed} ran differently the second time:\n" + string.Join("\n", first.Log.Zip(second.Log).SkipWhile(p => p.First == p.Second).Take(5).Select(p => $"first:  {p.First}\nsecond: {p.Second}")));
        }
    }

    private async Task ReplayAsync(int seed)
    {
        var world = await RunOneAsync(seed, CiSteps);
        output.WriteLine(SimFileSystems.Why);
        foreach (var line in world.Log)
        {
            output.WriteLine(line);
        }

        Assert.True(world.Failures.Count == 0, world.Report());
    }

    private async Task RunSeedsAsync(IEnumerable<int> seeds, int steps, TimeSpan? stableAge = null)
    {
        var failures = new ConcurrentBag<string>();
        var counts = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ran = 0;
        await Parallel.ForEachAsync(seeds, new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 4) }, async (seed, _) =>
        {
            var world = await RunOneAsync(seed, steps, stableAge);
            Interlocked.Increment(ref ran);
            foreach (var (what, n) in world.Counts)
            {
                counts.AddOrUpdate(what, n, (_, old) => old + n);
            }

            if (world.Failures.Count > 0)
            {
                failures.Add(world.Report());
            }
        });

        output.WriteLine(SimFileSystems.Why);
        output.WriteLine($"{ran} seeds in {clock.Elapsed.TotalSeconds:0.0} s: " + string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}")));
        var sorted = failures.OrderBy(f => f, StringComparer.Ordinal).ToList();
        foreach (var failure in sorted)
        {
            output.WriteLine(failure);
        }

        Assert.True(sorted.Count == 0, $"{sorted.Count} of {ran} seeds failed; the first:\n{sorted.FirstOrDefault()}");
    }

    internal static async Task<SimWorld> RunOneAsync(int seed, int steps, TimeSpan? stableAge = null)
    {
        var name = $"dbx-sim-{Environment.ProcessId}-{seed}-{Guid.NewGuid():N}";
        var root = Path.Combine(SimFileSystems.Main, name);
        var other = SimFileSystems.Other is { } elsewhere ? Path.Combine(elsewhere, name) : null;
        Directory.CreateDirectory(root);
        if (other is not null)
        {
            Directory.CreateDirectory(other);
        }

        var world = new SimWorld(seed, root, stableAge, other);
        try
        {
            await world.RunAsync(steps);
        }
        catch (Exception e)
        {
            world.Fail($"the run threw {e}");
        }
        finally
        {
            world.Dispose();
            Directory.Delete(root, recursive: true);
            if (other is not null)
            {
                Directory.Delete(other, recursive: true);
            }
        }

        return world;
    }
}
