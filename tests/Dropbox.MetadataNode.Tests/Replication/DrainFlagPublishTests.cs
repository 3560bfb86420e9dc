using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A node's new value is published under the write lock that writes it: a commit's locked step that still saw the node
/// not draining must come before the drain, never after it (a node report could otherwise call the drain done before
/// that commit recorded a copy there).
/// </summary>
public sealed class DrainFlagPublishTests
{
    [Fact]
    public void A_node_marked_draining_is_seen_draining_by_the_first_writer_to_take_the_write_lock_after_it()
    {
        // Arrange: the moment the drain's write releases the write lock (before SetDraining returns), a writer reads
        // the registry under that lock. Published after the lock, the flag would still read false there.
        using var h = new StoreHarness();
        bool? seenDraining = null;
        h.Store.Transactions.AfterUnlock = () =>
        {
            h.Store.Transactions.AfterUnlock = null;
            seenDraining = h.Store.Transactions.Exclusive(() => h.Store.Nodes.TryGet(StoreHarness.NodeA, out var node) && node.Draining);
        };

        // Act
        h.Store.Nodes.SetDraining(StoreHarness.NodeA, true);

        // Assert
        Assert.True(seenDraining);
    }
}
