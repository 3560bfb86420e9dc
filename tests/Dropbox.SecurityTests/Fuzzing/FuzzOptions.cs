using System.Globalization;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>
/// How much to fuzz. Environment overrides: FUZZ_SEED (reproduce a run), FUZZ_CASES (cases per node), FUZZ_CASE (replay one
/// case index only), FUZZ_CONCURRENCY (1 pins a failure to its case).
/// </summary>
internal sealed record FuzzOptions(int Seed, int Cases, int Concurrency, int BatchSize, int? OnlyCase)
{
    public static FuzzOptions FromEnvironment(int defaultSeed, int defaultCases) => new(
        Int("FUZZ_SEED") ?? defaultSeed,
        Int("FUZZ_CASES") ?? defaultCases,
        Int("FUZZ_CONCURRENCY") ?? 8,
        500,
        Int("FUZZ_CASE"));

    private static int? Int(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
}
