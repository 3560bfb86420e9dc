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
        // Arrange: the first writer after the drain's write (under the write lock) reads the registry.
        using var h = new StoreHarness();
        bool? seenDraining = null;
        h.Store.Nodes.AfterSave = () =>
        {
            h.Store.Nodes.AfterSave = null;
            seenDraining = h.Store.Transactions.Exclusive(() => h.Store.Nodes.TryGet(StoreHarness.NodeA, out var node) && node.Draining);
        };

        // Act
        h.Store.Nodes.SetDraining(StoreHarness.NodeA, true);

        // Assert
        Assert.True(seenDraining);
    }
}
