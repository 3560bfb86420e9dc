using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A one-file upload plan is one answer: its puts (missing chunks x copies, each with a node and a token) are bounded so
/// that the answer stays inside the client's 256 MiB receive limit (the metadata node sends up to that), and the bound
/// refuses no plan that fitted the 64 MiB message limit of earlier builds. Real RocksDB store, three registered nodes.
/// </summary>
public sealed class PlanAnswerSizeTests
{
    private const int ClientReceiveLimit = 256 * 1024 * 1024;
    private const int OldMessageLimit = 64 * 1024 * 1024;
    private const int Sample = 1000;

    private static StoreHarness ThreeNodes(int replicas, string? host = null)
    {
        var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = replicas });
        foreach (var (id, port) in new[] { (StoreHarness.NodeA, 1), ("node-b", 2), ("node-c", 3) })
        {
            var url = $"http://{host ?? "127.0.0.1"}:{port}";
            h.Store.Nodes.Register(new NodeRegistration(id, url, url, 0, 0));
        }

        return h;
    }

    private static ChunkRef[] Chunks(int count) => [.. Enumerable.Range(1, count).Select(i => StoreHarness.Chunk(i))];

    private static double BytesPerPut(string? host)
    {
        using var h = ThreeNodes(2, host);
        var (alice, _) = h.Store.AddUser("alice");
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("big.bin", 0, Chunks(Sample)));
        Assert.Equal(2 * Sample, plan.Missing.Count);
        return (double)SyncMapping.ToResponse(plan).CalculateSize() / plan.Missing.Count;
    }

    [Fact]
    public void The_put_bound_fits_the_client_receive_limit_with_long_addresses_and_refuses_no_plan_that_fitted_the_old_limit()
    {
        // Long node addresses (a 100-character host name) make the largest puts; the registered test addresses the smallest.
        var longest = BytesPerPut(new string('n', 90) + ".internal");
        var shortest = BytesPerPut(null);

        // The answer at the bound is at most 3/4 of what the client takes.
        Assert.True(Limits.MaxPutsPerPlan * longest < ClientReceiveLimit * 3.0 / 4, $"{longest:F0} bytes a put at long addresses");

        // A plan that fitted the earlier 64 MiB answer (at the smallest puts) is under the bound, and so is any file's plan at R = 2.
        Assert.True(Limits.MaxPutsPerPlan >= OldMessageLimit / shortest, $"{shortest:F0} bytes a put");
        Assert.True(Limits.MaxPutsPerPlan >= 2L * Limits.MaxChunksPerFile);
    }

    [Fact]
    public void A_plan_over_the_put_bound_is_refused_naming_the_limit_and_notes_no_put()
    {
        using var h = ThreeNodes(3);
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Chunks((Limits.MaxPutsPerPlan / 3) + 1);
        Assert.True(chunks.Length <= Limits.MaxChunksPerFile);

        var refused = Assert.Throws<DropboxException>(() => h.Store.PlanUpload(alice, StoreHarness.Upload("big.bin", 0, chunks)));

        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains("MaxPutsPerPlan = " + Limits.MaxPutsPerPlan, refused.Message, StringComparison.Ordinal);
        Assert.Contains("PlanChunks", refused.Message, StringComparison.Ordinal);

        // Nothing was noted: the account's whole pending-put budget is still there for windows of the same file.
        Assert.Equal(0, h.Store.PendingPutCount());
        var window = h.Store.PlanChunks(alice, ChunkWindow.Create("big.bin", (ulong)chunks.Sum(c => (long)c.Size), 0, chunks[..Limits.MaxChunksPerWindow]));
        Assert.Equal(3 * Limits.MaxChunksPerWindow, window.Missing.Count);
    }
}
