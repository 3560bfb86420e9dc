using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A one-file upload plan is one answer: its puts (missing chunks x copies, each with a node and a token) are bounded so
/// that the answer stays inside the 64 MiB message limit. Real RocksDB store, two registered nodes, R = 2.
/// </summary>
public sealed class PlanAnswerSizeTests
{
    private const int MessageLimit = 64 * 1024 * 1024;

    private static StoreHarness TwoNodes()
    {
        var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 2 });
        h.Store.Nodes.Register(new NodeRegistration("node-b", "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        return h;
    }

    private static ChunkRef[] Chunks(int count) => [.. Enumerable.Range(1, count).Select(i => StoreHarness.Chunk(i))];

    [Fact]
    public void A_plan_at_the_put_bound_fits_one_answer()
    {
        using var h = TwoNodes();
        var (alice, _) = h.Store.AddUser("alice");

        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("big.bin", 0, Chunks(Limits.MaxPutsPerPlan / 2)));

        Assert.Equal(Limits.MaxPutsPerPlan, plan.Missing.Count);
        var bytes = SyncMapping.ToResponse(plan).CalculateSize();
        Assert.True(bytes < MessageLimit * 3L / 4, $"{bytes} bytes");
    }

    [Fact]
    public void A_plan_over_the_put_bound_is_refused_naming_the_limit_and_notes_no_put()
    {
        using var h = TwoNodes();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Chunks((Limits.MaxPutsPerPlan / 2) + 1);

        var refused = Assert.Throws<DropboxException>(() => h.Store.PlanUpload(alice, StoreHarness.Upload("big.bin", 0, chunks)));

        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains("MaxPutsPerPlan = " + Limits.MaxPutsPerPlan, refused.Message, StringComparison.Ordinal);
        Assert.Contains("PlanChunks", refused.Message, StringComparison.Ordinal);

        // Nothing was noted: the account's whole pending-put budget is still there for windows of the same file.
        Assert.Equal(0, h.Store.PendingPutCount());
        var window = h.Store.PlanChunks(alice, ChunkWindow.Create("big.bin", (ulong)chunks.Sum(c => (long)c.Size), 0, chunks[..Limits.MaxChunksPerWindow]));
        Assert.Equal(2 * Limits.MaxChunksPerWindow, window.Missing.Count);
    }
}
