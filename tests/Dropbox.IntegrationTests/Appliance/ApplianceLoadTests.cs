using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;
using Dropbox.Shared.Protos.Admin;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// Many clients against one appliance at once, as real processes: every account's feed must hold each of its files
/// exactly once with the bytes its client wrote (content hash checked), and the appliance's memory must stay bounded.
/// CI runs 8 clients of 100 files; the long profile runs the issue's 32 clients of 1,000 files. Throughput and latency
/// figures are printed; the README's come from <c>benchmarks/... appliance-load</c>, never asserted here.
/// </summary>
public sealed partial class ApplianceLoadTests : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _dir = new();
    private readonly ITestOutputHelper _output;

    public ApplianceLoadTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public Task Eight_clients_syncing_a_hundred_files_each_at_once_all_land_exactly_once_in_bounded_memory() =>
        RunAsync(clients: 8, filesEach: 100, rssLimitBytes: 768L << 20, timeout: TimeSpan.FromMinutes(5));

    [Fact]
    [Trait("Category", "Long")]
    public Task Thirty_two_clients_syncing_a_thousand_files_each_at_once_all_land_exactly_once_in_bounded_memory() =>
        RunAsync(clients: 32, filesEach: 1000, rssLimitBytes: 1536L << 20, timeout: TimeSpan.FromMinutes(20));

    private async Task RunAsync(int clients, int filesEach, long rssLimitBytes, TimeSpan timeout)
    {
        // Arrange: one appliance, one account per client (created online through the admin API), each folder filled
        // with its own files of 1-8 KiB in ten subfolders.
        var data = _dir.CreateSub("appliance");
        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", data, "--port", "0", "--log-level", "warning"]);
        var admin = (await appliance.WaitForOutputAsync(TokenLine(), StartTimeout)).Groups[1].Value;
        var url = (await appliance.WaitForOutputAsync(ReadyLine(), StartTimeout)).Groups[1].Value;
        AppContext.SetSwitch("System.Net.Http.SocketsHttpHandler.Http2UnencryptedSupport", true);
        using var channel = GrpcChannel.ForAddress(url);
        var adminApi = new Admin.AdminClient(channel);
        var sides = new List<Side>();
        for (var i = 0; i < clients; i++)
        {
            var added = await adminApi.AddUserAsync(new AddUserRequest { Name = $"load{i}" }, Bearer(admin));
            var side = new Side($"load{i}", added.Token, _dir.CreateSub($"c{i}-folder"), _dir.CreateSub($"c{i}-state"), WriteFiles(_dir.CreateSub($"c{i}-folder"), filesEach, seed: i));
            using var login = ChildProcess.Start(Binaries.SyncClient, ["login", "--server", url, "--token", side.Token, "--folder", side.Folder, "--device", side.Name, "--state", side.State]);
            Assert.True(await login.WaitForExitAsync(StartTimeout) == 0, $"login {side.Name}: {login.Stderr}");
            sides.Add(side);
        }

        // Act: every client runs one pass at the same moment.
        var wall = Stopwatch.StartNew();
        var runs = await Task.WhenAll(sides.Select(async side =>
        {
            var started = wall.Elapsed;
            using var sync = ChildProcess.Start(Binaries.SyncClient, ["sync", "--once", "--stable-age", "0", "--state", side.State]);
            var code = await sync.WaitForExitAsync(timeout);
            return (side, code, Elapsed: wall.Elapsed - started, sync.Stdout, sync.Stderr);
        }));
        wall.Stop();
        var peakRss = PeakRssBytes(appliance.Id);

        // Assert: every pass succeeded; every account's feed has each file once, with its bytes, in sequence order.
        foreach (var run in runs)
        {
            Assert.True(run.code == 0, $"{run.side.Name} exited {run.code}\n{run.Stdout}\n{run.Stderr}");
        }

        foreach (var side in sides)
        {
            var feed = await ReadFeedAsync(new Sync.SyncClient(channel), side.Token);
            var files = feed.Where(c => c.Entry.Kind == EntryKind.File).ToList();
            var duplicated = files.GroupBy(c => c.Entry.Path).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(duplicated.Count == 0, $"{side.Name}: changes listed twice: {string.Join(", ", duplicated.Take(5))}");
            Assert.True(feed.Zip(feed.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence), $"{side.Name}: feed out of order");
            var byPath = files.ToDictionary(c => c.Entry.Path, c => c.Entry);
            var lost = side.Expected.Keys.Where(p => !byPath.ContainsKey(p)).ToList();
            Assert.True(lost.Count == 0, $"{side.Name}: {lost.Count} of {side.Expected.Count} files never reached the feed, e.g. {string.Join(", ", lost.Take(5))}");
            Assert.Equal(side.Expected.Count, byPath.Count);
            foreach (var (path, contentHash) in side.Expected)
            {
                Assert.True(byPath[path].ContentHash.Span.SequenceEqual(contentHash), $"{side.Name}: {path} holds other bytes than its client wrote");
            }
        }

        Assert.True(peakRss > 0 && peakRss <= rssLimitBytes, $"appliance peak RSS {peakRss >> 20} MiB, bound {rssLimitBytes >> 20} MiB");
        var latencies = runs.Select(r => r.Elapsed.TotalSeconds).Order().ToList();
        _output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{clients} clients x {filesEach} files: wall {wall.Elapsed.TotalSeconds:F1} s, {clients * filesEach / wall.Elapsed.TotalSeconds:F0} files/s; per-client pass p50 {Percentile(latencies, 0.5):F1} s, p95 {Percentile(latencies, 0.95):F1} s, max {latencies[^1]:F1} s; appliance peak RSS {peakRss >> 20} MiB"));
    }

    /// <summary>Writes <paramref name="count"/> files of 1-8 KiB; returns path -> the content hash the server must record.</summary>
    private static Dictionary<string, byte[]> WriteFiles(string folder, int count, int seed)
    {
        var random = new Random(seed);
        var expected = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var relative = $"d{i % 10}/f{i:D5}.txt";
            var bytes = new byte[random.Next(1024, 8 * 1024 + 1)];
            random.NextBytes(bytes);
            var path = Path.Combine(folder, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);

            // A file below the smallest chunk is one chunk; the content hash is SHA-256 over the chunk ids.
            expected[relative] = SHA256.HashData(SHA256.HashData(bytes));
        }

        return expected;
    }

    private static async Task<List<Change>> ReadFeedAsync(Sync.SyncClient sync, string token)
    {
        var changes = new List<Change>();
        var cursor = string.Empty;
        for (var page = 0; page < 1000; page++)
        {
            var answer = await sync.ListChangesAsync(new ListChangesRequest { Cursor = cursor, Limit = 1000 }, Bearer(token));
            changes.AddRange(answer.Changes);
            cursor = answer.Cursor;
            if (!answer.HasMore)
            {
                return changes;
            }
        }

        throw new InvalidOperationException("The feed did not end within 1,000 pages.");
    }

    /// <summary>The process's peak resident set (VmHWM), in bytes.</summary>
    private static long PeakRssBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static Grpc.Core.Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    [GeneratedRegex(@"^token: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"^ready: (http://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();

    private sealed record Side(string Name, string Token, string Folder, string State, Dictionary<string, byte[]> Expected);
}
