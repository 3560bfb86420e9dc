using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>
/// Runs seeded mutation cases against one node: case i of seed s is always the same bytes, method and credential (its
/// outcome can still depend on what earlier cases changed). After every batch it checks the node's log for unhandled
/// exceptions and that the node still serves a valid call; a case answered UNKNOWN or INTERNAL is a failure.
/// </summary>
internal sealed class Fuzzer(FuzzPlan plan, GrpcChannel channel, Func<int> loggedFailures, Func<IEnumerable<string>> logTail, Func<Task> healthCheck)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly StatusCode[] Forbidden = [StatusCode.Unknown, StatusCode.Internal];

    public async Task<FuzzReport> RunAsync(FuzzOptions options, CancellationToken cancellationToken)
    {
        var invoker = channel.CreateCallInvoker();
        var report = new FuzzReport(plan.Node, options.Seed);
        var clock = Stopwatch.StartNew();

        // Every seed, sent as it is with its target's first (valid) credential, must be handled too.
        foreach (var target in plan.Targets)
        {
            foreach (var seed in target.Seeds)
            {
                var status = await RawCall.SendAsync(invoker, target, seed.Frames, target.Credentials[0].Header, Deadline);
                report.Record(-1, target, target.Credentials[0].Label, status, seed.Frames, Forbidden.Contains(status.StatusCode), clock.Elapsed);
            }
        }

        var indices = options.OnlyCase is { } only ? [only] : Enumerable.Range(0, options.Cases).ToArray();
        for (var start = 0; start < indices.Length; start += options.BatchSize)
        {
            var logsBefore = loggedFailures();
            var batchLogs = logsBefore;
            var batch = indices.AsMemory(start, Math.Min(options.BatchSize, indices.Length - start));
            await Parallel.ForEachAsync(
                Each(batch),
                new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken },
                async (index, _) =>
                {
                    var (target, credential, frames) = Case(options.Seed, index);
                    var started = clock.Elapsed;
                    var status = await RawCall.SendAsync(invoker, target, frames, credential.Header, Deadline);
                    var bad = Forbidden.Contains(status.StatusCode)
                        || (status.StatusCode == StatusCode.DeadlineExceeded && target.Method.Name != "ListChanges")
                        || BrokeTheConnection(status);
                    report.Record(index, target, credential.Label, status, frames, bad, clock.Elapsed, clock.Elapsed - started);
                    if (options.Concurrency == 1 && loggedFailures() > logsBefore)
                    {
                        // One case at a time: the first case after which the node logged is the culprit.
                        report.Culprits.Add($"case {index}: {target.Name} as {credential.Label} -> {status.StatusCode}; frames {string.Join(" | ", frames.Select(f => $"{f.Length} bytes"))}");
                        logsBefore = loggedFailures();
                    }
                });

            var logged = loggedFailures() - batchLogs;
            if (logged > 0)
            {
                report.LogFailures.Add($"cases {batch.Span[0]}..{batch.Span[^1]} made the node log {logged} unhandled exception(s); replay with FUZZ_SEED={options.Seed} FUZZ_CONCURRENCY=1 to pin the case:\n" + string.Join("\n----\n", logTail().Skip(batchLogs).Take(2)));
            }

            try
            {
                await healthCheck();
            }
            catch (Exception e)
            {
                report.HealthFailures.Add($"after cases {batch.Span[0]}..{batch.Span[^1]} the node no longer served a valid call: {e.GetType().Name}: {e.Message}");
                break;
            }
        }

        report.Elapsed = clock.Elapsed;
        return report;
    }

    /// <summary>Case <paramref name="index"/> of run <paramref name="seed"/>: target, credential and frames, all from one seeded RNG.</summary>
    public (FuzzTarget Target, Credential Credential, IReadOnlyList<byte[]> Frames) Case(int seed, int index)
    {
        var random = new Random(CaseSeed(seed, index));
        var target = plan.Targets[index % plan.Targets.Count];
        var credential = target.PickCredential(random);
        var seedMessage = target.Seeds[random.Next(target.Seeds.Count)];
        var mutator = new MessageMutator(random, plan.Strings, plan.Bytes);
        var frames = seedMessage.Frames.ToList();
        var input = target.Method.InputType;
        if (random.Next(10) == 0)
        {
            return (target, credential, frames); // unmutated, with a random credential
        }

        if (frames.Count <= 1 || random.Next(10) < 7)
        {
            var at = random.Next(Math.Max(1, frames.Count));
            if (frames.Count == 0)
            {
                frames.Add([]);
            }

            frames[at] = target.Sanitize(mutator.Mutate(frames[at], input));
            return (target, credential, frames);
        }

        switch (random.Next(4))
        {
            case 0:
                frames.RemoveAt(random.Next(frames.Count));
                break;
            case 1:
                frames.Insert(random.Next(frames.Count + 1), frames[random.Next(frames.Count)]);
                break;
            case 2:
                var i = random.Next(frames.Count);
                var j = random.Next(frames.Count);
                (frames[i], frames[j]) = (frames[j], frames[i]);
                break;
            default:
                frames.Insert(random.Next(frames.Count + 1), target.Sanitize(mutator.Mutate([], input)));
                break;
        }

        return (target, credential, frames);
    }

    /// <summary>
    /// A status the client made up because the HTTP/2 connection or stream failed (a response header past the limit,
    /// a reset): the node's answer never arrived, and every call sharing the connection failed with it.
    /// </summary>
    private static bool BrokeTheConnection(Status status) =>
        status.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Cancelled
        && (status.Detail.StartsWith("Error starting gRPC call", StringComparison.Ordinal) || status.Detail.StartsWith("Error reading next message", StringComparison.Ordinal) || status.Detail.Contains("HPack", StringComparison.Ordinal));

    /// <summary>SplitMix64 of (seed, index): stable across processes (unlike HashCode), so a printed seed replays.</summary>
    private static int CaseSeed(int seed, int index)
    {
        var z = unchecked(((ulong)(uint)seed << 32 | (uint)index) + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)(z ^ (z >> 31));
    }

    private static IEnumerable<int> Each(ReadOnlyMemory<int> memory)
    {
        for (var i = 0; i < memory.Length; i++)
        {
            yield return memory.Span[i];
        }
    }
}
