using System.Collections.Concurrent;
using System.Text;
using Grpc.Core;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>What a fuzz run saw: status counts per method, and every failure with what is needed to replay it.</summary>
internal sealed class FuzzReport(string node, int seed)
{
    private const int MaxKeptFailures = 20;
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private readonly ConcurrentDictionary<string, long> _millis = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private int _cases;
    private int _failureCount;

    public string Node => node;

    public int Seed => seed;

    public int Cases => _cases;

    public int FailureCount => _failureCount;

    public List<string> LogFailures { get; } = [];

    public List<string> HealthFailures { get; } = [];

    /// <summary>With concurrency 1: the cases after which a node logged an unhandled exception.</summary>
    public List<string> Culprits { get; } = [];

    public TimeSpan Elapsed { get; set; }

    public bool Passed => _failureCount == 0 && LogFailures.Count == 0 && HealthFailures.Count == 0;

    public void Record(int index, FuzzTarget target, string credential, Status status, IReadOnlyList<byte[]> frames, bool bad, TimeSpan at, TimeSpan took = default)
    {
        _millis.AddOrUpdate(target.Name, (long)took.TotalMilliseconds, (_, n) => n + (long)took.TotalMilliseconds);
        if (index >= 0)
        {
            Interlocked.Increment(ref _cases);
        }

        _counts.AddOrUpdate($"{target.Name} {status.StatusCode}", 1, (_, n) => n + 1);
        if (bad)
        {
            Interlocked.Increment(ref _failureCount);
            if (_failures.Count < MaxKeptFailures)
            {
                var hex = string.Join(" | ", frames.Select(f => Convert.ToHexStringLower(f.AsSpan(0, Math.Min(f.Length, 160))) + (f.Length > 160 ? $"...({f.Length} bytes)" : string.Empty)));
                _failures.Enqueue($"{(index < 0 ? "seed" : $"case {index}")} of FUZZ_SEED={seed}: {target.Name} as {credential} -> {status.StatusCode} \"{Truncate(status.Detail)}\" at {at.TotalSeconds:0.0}s\n    frames: {hex}");
            }
        }
    }

    public string Summary()
    {
        var text = new StringBuilder();
        text.AppendLine($"{node}: {Cases} cases with FUZZ_SEED={seed} in {Elapsed.TotalSeconds:0.0} s; {FailureCount} UNKNOWN/INTERNAL/hung, {LogFailures.Count} batches with logged exceptions, {HealthFailures.Count} health failures.");
        foreach (var f in _failures)
        {
            text.AppendLine("  FAIL " + f);
        }

        foreach (var f in LogFailures.Concat(HealthFailures).Concat(Culprits))
        {
            text.AppendLine("  FAIL " + f);
        }

        foreach (var (key, count) in _counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            text.AppendLine($"  {key}: {count}");
        }

        text.AppendLine("  call time per method (ms): " + string.Join(", ", _millis.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value}")));

        return text.ToString();
    }

    private static string Truncate(string s) => s.Length > 300 ? s[..300] + "..." : s;
}
