using System.Globalization;
using CsCheck;
using Dropbox.SyncClient.Tests.PlannerModel;
using Xunit.Abstractions;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Property tests of <c>SyncPlanner</c> in the style of Dropbox's CanopyCheck: random correlated trees (a synced
/// tree, then random edits to the folder and on the server), pass after pass with every step succeeding, checked
/// for termination, convergence, no lost content and idempotence (see <see cref="PlannerRun"/>). CsCheck generates
/// and shrinks from one seed; a failure prints the seed and the shrunk case as C# for a regression row below.
/// Reproduce with PLANNER_PROPERTY_SEED=seed; more cases with PLANNER_PROPERTY_CASES=n (or the Long test).
/// </summary>
public sealed class SyncPlannerPropertyTests(ITestOutputHelper output)
{
    private static readonly Gen<PlannerOp> Op = Gen.Select(Gen.Int[0, 32], Gen.Int[0, 15], Gen.Int[0, 7], Gen.Int[0, 7], (k, a, b, c) => new PlannerOp(k, a, b, c));

    private static readonly Gen<PlannerCase> Cases = Gen.Select(Op.Array[0, 8], Op.Array[0, 6], Op.Array[0, 6], Gen.Int[0, 1000], (s, l, r, o) => new PlannerCase(s, l, r, o));

    [Fact]
    public void The_planner_converges_without_losing_content_over_random_trees() =>
        Sample(Environment.GetEnvironmentVariable("PLANNER_PROPERTY_CASES") is { } n ? long.Parse(n, CultureInfo.InvariantCulture) : 10_000);

    [Fact]
    [Trait("Category", "Long")]
    public void The_planner_converges_without_losing_content_over_millions_of_random_trees() => Sample(2_000_000);

    internal static void Run(PlannerCase c) => PlannerRun.Check(c);

    private void Sample(long cases)
    {
        var seed = Environment.GetEnvironmentVariable("PLANNER_PROPERTY_SEED");
        var started = System.Diagnostics.Stopwatch.StartNew();
        Cases.Sample(PlannerRun.Check, output.WriteLine, seed: seed, iter: seed is null ? cases : 1, threads: -1, print: c => c.ToString());
        output.WriteLine($"{cases} cases in {started.Elapsed.TotalSeconds:F1} s");
    }
}
