using System.Collections.Concurrent;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// The collector racing writers, many rounds with different seeds and more writers than the CI-sized race in
/// <see cref="RetentionAndGcTests"/>; on a lost chunk it prints everything that happened to it.
/// </summary>
public sealed class GcStressTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    [Fact]
    [Trait("Category", "Long")]
    public async Task Gc_Race_ManyRoundsManyWriters_NeverDeleteAChunkALiveVersionReferences()
    {
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("GC_STRESS_ROUNDS"), out var r) ? r : 20;
        for (var round = 0; round < rounds; round++)
        {
            await RunRoundAsync(round);
        }
    }

    private static async Task RunRoundAsync(int round)
    {
        using var h = new StoreHarness(o => o with
        {
            KeepVersions = 2,
            KeepAge = TimeSpan.FromDays(30),
            GcGracePeriod = Grace,
            NodeTimeout = TimeSpan.FromDays(365),
        });
        var trace = new ConcurrentQueue<string>();
        h.Gateway.Trace = trace;
        h.BetweenPutAndReport = () => Thread.Sleep(Random.Shared.Next(30));
        var users = Enumerable.Range(0, 3).Select(i => h.Store.AddUser("u" + i).User).ToArray();
        var stop = DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
        var random = new Random(1000 + round);

        async Task Writer(UserInfo user, int seed)
        {
            var rnd = new Random(seed);
            var versions = new Dictionary<string, ulong>();
            for (var i = 0; i < 400 && DateTime.UtcNow < stop; i++)
            {
                var path = "f" + rnd.Next(5);
                var chunks = Enumerable.Range(0, 1 + rnd.Next(3)).Select(_ => StoreHarness.Chunk(rnd.Next(12))).DistinctBy(c => c.Id).ToArray();
                try
                {
                    if (rnd.Next(6) == 0)
                    {
                        var d = await h.Store.DeleteAsync(user, path, 0, "t");
                        h.Gateway.Note($"{user.Name} deleted {path}@{d}");
                    }
                    else
                    {
                        versions.TryGetValue(path, out var b);
                        var c = await h.PutFileAsync(user, path, b, chunks);
                        versions[path] = c.Sequence;
                        h.Gateway.Note($"{user.Name} committed {path}@{c.Sequence} [{string.Join(",", chunks.Select(x => x.Id.ToShortString()))}] at {h.Clock.GetUtcNow():HH:mm}; records {string.Join(" | ", chunks.Select(x => ChunkLedger.Read(h.Store.Engine, x.Id)))}");
                    }
                }
                catch (DropboxException ex) when (ex.Kind is ErrorKind.NotFound or ErrorKind.Conflict)
                {
                    h.Gateway.Note($"{user.Name} refused {path}: {ex.Kind}");
                    versions.Remove(path);
                    var current = h.Store.ListFiles(user, "", false).Entries.FirstOrDefault(e => e.Path == path);
                    if (current is not null)
                    {
                        versions[path] = current.Version;
                    }
                }
            }
        }

        async Task Collector()
        {
            for (var i = 0; i < 2000 && DateTime.UtcNow < stop; i++)
            {
                h.Clock.Advance(TimeSpan.FromMinutes(random.Next(0, 90)));
                h.Heartbeat();
                h.Gateway.Note($"gc pass at {h.Clock.GetUtcNow():dd HH:mm}");
                var result = await h.Store.RunGcOnceAsync(CancellationToken.None);
                h.Gateway.Note($"gc pass done: pruned {result.PrunedVersions}, deleted {result.DeletedChunks}");
                await Task.Yield();
            }
        }

        var tasks = users.Select((u, i) => Task.Run(() => Writer(u, (round * 10) + i))).Append(Task.Run(Collector));
        await Task.WhenAll(tasks);

        h.AssertConsistent();
        foreach (var user in users)
        {
            foreach (var entry in h.Store.ListFiles(user, "", false).Entries)
            {
                foreach (var version in h.Store.ListVersions(user, entry.Path).Where(v => !v.Deleted))
                {
                    foreach (var c in version.Chunks)
                    {
                        var id = c.Id;
                        if (!h.Gateway.HoldsAnywhere(id))
                        {
                            var s = id.ToShortString();
                            var history = string.Join("\n", trace.Where(t => t.Contains(s, StringComparison.Ordinal) || t.StartsWith("gc pass", StringComparison.Ordinal)).TakeLast(150));
                            Assert.Fail($"round {round}: {user.Name} {entry.Path}@{version.Version} lost chunk {s}; record {ChunkLedger.Read(h.Store.Engine, id)}\n{history}");
                        }
                    }
                }
            }
        }
    }
}
