using System.Diagnostics;
using Dropbox.IntegrationTests.Appliance;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// Two real <c>sync</c> daemons on one account against a real <c>standalone</c> appliance, agitated by seeded random
/// concurrent operations on both folders; then settled with <c>--once</c> passes. At the end both folders and the
/// server hold the same files, every content whose own side did not overwrite or delete it is still somewhere (a
/// folder, a conflicted copy, or the server's history), and the daemons ran a bounded number of passes per second.
/// <c>AGITATION_SEED</c> replays a printed seed.
/// </summary>
[Trait("Category", "Slow")]
public sealed class TwoDaemonAgitationTests(ITestOutputHelper output) : IDisposable
{
    private const int SigTerm = 15;
    private const int OncePasses = 4;

    /// <summary>
    /// Passes a daemon may run beyond one per operation (on either side) per second of agitation. Each operation can
    /// cost a local pass on its side and a remote one on the other, and a file still changing a few re-checks; re-checks
    /// that multiply instead of merging (10+ passes a second for one file appended once a second) break it.
    /// </summary>
    private const double SparePassesPerSecond = 2;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public Task Two_daemons_agitated_for_half_a_minute_end_identical_with_no_content_lost() =>
        AgitateAsync(SeedFromEnvironment() ?? Random.Shared.Next(1, int.MaxValue), TimeSpan.FromSeconds(30));

    [Theory]
    [Trait("Category", "Long")]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public Task Two_daemons_agitated_for_two_minutes_end_identical_with_no_content_lost(int seed) =>
        AgitateAsync(SeedFromEnvironment() ?? seed, TimeSpan.FromMinutes(2));

    private static int? SeedFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("AGITATION_SEED"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : null;

    private async Task AgitateAsync(int seed, TimeSpan duration)
    {
        output.WriteLine($"AGITATION_SEED={seed} ({duration.TotalSeconds} s)");
        using var app = await StandaloneNodes.StartAsync(_dir, nodes: 1, replicas: 1, deadAfterSeconds: 60);
        var (folderA, stateA) = await app.LoginAsync("alpha");
        var (folderB, stateB) = await app.LoginAsync("bravo");
        var driver = new AgitationDriver(seed, [folderA, folderB]);

        using var daemonA = StandaloneNodes.StartClient(stateA, "sync", "--json");
        using var daemonB = StandaloneNodes.StartClient(stateB, "sync", "--json");
        string Diagnostics() => $"AGITATION_SEED={seed}\nalpha:\n{Tail(daemonA.Stdout + daemonA.Stderr)}\nbravo:\n{Tail(daemonB.Stdout + daemonB.Stderr)}";
        await WaitForPassAsync(daemonA, Diagnostics);
        await WaitForPassAsync(daemonB, Diagnostics);

        var agitated = Stopwatch.StartNew();
        await driver.RunAsync(duration, CancellationToken.None);
        var seconds = agitated.Elapsed.TotalSeconds;
        var passesA = Passes(daemonA);
        var passesB = Passes(daemonB);
        output.WriteLine($"{driver.Operations} operations ({string.Join(", ", driver.Done.OrderBy(d => d.Key).Select(d => $"{d.Key} {d.Value}"))}) in {seconds:F1} s; passes: alpha {passesA}, bravo {passesB}");

        // Settle: the daemons alone, until both folders are the same and stay so for a moment (or a bound passes).
        var settled = await SettleAsync(folderA, folderB, TimeSpan.FromSeconds(30));
        output.WriteLine(settled ? "the daemons converged on their own" : "the daemons had not converged within 30 s of the last operation");
        foreach (var daemon in new[] { daemonA, daemonB })
        {
            daemon.Signal(SigTerm);
            var code = await daemon.WaitForExitAsync(Timeout);
            Assert.True(code == 0, $"a daemon exited {code}\n{Diagnostics()}");
        }

        var once = new List<string>();
        for (var i = 0; i < OncePasses; i++)
        {
            foreach (var state in new[] { stateA, stateB })
            {
                using var pass = StandaloneNodes.StartClient(state, "sync", "--once", "--json");
                var code = await pass.WaitForExitAsync(Timeout);
                once.Add(pass.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? string.Empty);
                Assert.True(code == 0, $"sync --once exited {code}\n{pass.Stdout}\n{pass.Stderr}\n{Diagnostics()}");
            }
        }

        string Explain() => $"{Diagnostics()}\n--once passes:\n{string.Join("\n", once)}";

        // Both folders and the server: the same files with the same bytes.
        var a = AgitationDriver.Snapshot(folderA);
        var b = AgitationDriver.Snapshot(folderB);
        var onlyA = a.Where(e => !b.TryGetValue(e.Key, out var h) || h != e.Value).Select(e => e.Key).ToList();
        var onlyB = b.Where(e => !a.TryGetValue(e.Key, out var h) || h != e.Value).Select(e => e.Key).ToList();
        Assert.True(onlyA.Count == 0 && onlyB.Count == 0, $"the folders differ: alpha only/different [{string.Join(", ", onlyA)}], bravo only/different [{string.Join(", ", onlyB)}]\n{Explain()}");

        using var server = new ServerView(app.Url, app.Token);
        var live = await server.LiveFilesAsync();
        var serverOnly = live.Keys.Except(a.Keys).ToList();
        var notOnServer = a.Where(e => !live.TryGetValue(e.Key, out var h) || h != e.Value).Select(e => e.Key).ToList();
        Assert.True(serverOnly.Count == 0 && notOnServer.Count == 0, $"the server differs from the folders: server only [{string.Join(", ", serverOnly)}], folder only/different [{string.Join(", ", notOnServer)}]\n{Explain()}");

        // No content lost: what each side wrote and did not itself overwrite or delete is in a folder (maybe as a
        // conflicted copy) or in the server's history.
        var present = a.Values.ToHashSet();
        var history = await server.EveryVersionAsync();
        var lost = driver.Written.Where(w => !driver.Superseded.Contains(w.Key) && !present.Contains(w.Key) && !history.Contains(w.Key)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} contents lost (of {driver.Written.Count} written): {string.Join(", ", lost.Take(10).Select(l => $"side {l.Value}: {l.Key[..12]}"))}\n{Explain()}");

        // Bounded passes: a burst of changes must not multiply the daemon's passes.
        var maxPasses = driver.Operations + (SparePassesPerSecond * seconds);
        foreach (var (name, passes) in new[] { ("alpha", passesA), ("bravo", passesB) })
        {
            Assert.True(passes <= maxPasses, $"{name} ran {passes} passes in {seconds:F1} s for {driver.Operations} operations (at most {maxPasses:F0})\n{Explain()}");
        }

        var required = driver.Written.Keys.Where(k => !driver.Superseded.Contains(k)).ToList();
        output.WriteLine($"final: {a.Count} files ({a.Keys.Count(k => k.Contains("conflict", StringComparison.OrdinalIgnoreCase))} conflicted or case-conflict copies); {driver.Written.Count} contents written, {required.Count} required: {required.Count(present.Contains)} in the folders, {required.Count(k => !present.Contains(k))} only in the history");
    }

    /// <summary>Passes the daemon reported (one JSON summary line each).</summary>
    private static int Passes(ChildProcess daemon) =>
        daemon.Stdout.Split('\n').Count(l => l.StartsWith('{'));

    private static async Task WaitForPassAsync(ChildProcess daemon, Func<string> diagnostics)
    {
        var clock = Stopwatch.StartNew();
        while (Passes(daemon) == 0)
        {
            Assert.True(clock.Elapsed < Timeout && !daemon.HasExited, "the daemon reported no first pass\n" + diagnostics());
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until both folders hold the same files for three checks in a row, at most <paramref name="bound"/>.</summary>
    private static async Task<bool> SettleAsync(string folderA, string folderB, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        var same = 0;
        while (clock.Elapsed < bound)
        {
            same = AgitationDriver.Snapshot(folderA).SequenceEqual(AgitationDriver.Snapshot(folderB)) ? same + 1 : 0;
            if (same >= 3)
            {
                return true;
            }

            await Task.Delay(500);
        }

        return false;
    }

    private static string Tail(string s) => s.Length <= 6000 ? s : "..." + s[^6000..];

    /// <summary>The account as the server holds it, read over gRPC with the account's token.</summary>
    private sealed class ServerView : IDisposable
    {
        private readonly GrpcChannel _channel;
        private readonly Sync.SyncClient _client;
        private readonly Metadata _headers;

        public ServerView(string url, string token)
        {
            AppContext.SetSwitch("System.Net.Http.SocketsHttpHandler.Http2UnencryptedSupport", true);
            _channel = GrpcChannel.ForAddress(url);
            _client = new Sync.SyncClient(_channel);
            _headers = new Metadata { { "authorization", "Bearer " + token } };
        }

        /// <summary>Every live file: path → SHA-256 of its bytes (contents are one chunk, or none when empty).</summary>
        public async Task<SortedDictionary<string, string>> LiveFilesAsync()
        {
            var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var e in await ListAsync(includeDeleted: false))
            {
                if (e.Kind == EntryKind.File && !e.Deleted)
                {
                    result[e.Path] = ContentOf(e);
                }
            }

            return result;
        }

        /// <summary>The contents of every version of every path the server ever held.</summary>
        public async Task<HashSet<string>> EveryVersionAsync()
        {
            var result = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in await ListAsync(includeDeleted: true))
            {
                if (e.Kind != EntryKind.File)
                {
                    continue;
                }

                var versions = await _client.ListVersionsAsync(new ListVersionsRequest { Path = e.Path }, _headers);
                foreach (var v in versions.Versions.Where(v => !v.Deleted))
                {
                    result.Add(ContentOf(v));
                }
            }

            return result;
        }

        private async Task<List<FileEntry>> ListAsync(bool includeDeleted)
        {
            var all = new List<FileEntry>();
            var after = string.Empty;
            for (var page = 0; page < 100; page++)
            {
                var r = await _client.ListFilesAsync(new ListFilesRequest { IncludeDeleted = includeDeleted, Limit = 1000, StartAfter = after }, _headers);
                all.AddRange(r.Entries);
                if (!r.HasMore || r.Entries.Count == 0)
                {
                    return all;
                }

                after = r.Entries[^1].Path;
            }

            throw new InvalidOperationException("more than 100 pages of files");
        }

        private static string ContentOf(FileEntry e)
        {
            Assert.True(e.Chunks.Count <= 1, $"'{e.Path}' v{e.Version} has {e.Chunks.Count} chunks; the driver writes one-chunk files");
            return e.Chunks.Count == 0 ? AgitationDriver.Hash([]) : Convert.ToHexStringLower(e.Chunks[0].Id.Span);
        }

        public void Dispose() => _channel.Dispose();
    }
}
