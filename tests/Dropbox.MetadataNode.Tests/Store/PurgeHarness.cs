using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>The store the removed-account purge tests share: nodes never time out, a one-hour collection grace, purge batches as asked.</summary>
internal static class PurgeHarness
{
    public static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    public static StoreHarness Create(int batchSize = 512, int batchesPerPass = 256) => new(o => o with
    {
        NodeTimeout = TimeSpan.FromDays(365),
        GcGracePeriod = Grace,
        PurgeBatchSize = batchSize,
        PurgeBatchesPerPass = batchesPerPass,
    });
}
