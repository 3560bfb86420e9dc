using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>The account's own put nodes as node events record them (<see cref="OwnCopies.NoteEvent"/>).</summary>
public sealed class OwnCopiesTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);
    private const long T0 = 1_000_000_000;

    [Fact]
    public void An_event_adds_its_node_once_while_the_mark_is_fresh_and_starts_the_list_anew_once_it_went_stale()
    {
        var mark = new NamespaceChunkRecord();
        OwnCopies.NoteEvent(mark, "node-a", T0, Grace);
        OwnCopies.NoteEvent(mark, "node-b", T0 + 1_000, Grace);
        OwnCopies.NoteEvent(mark, "node-a", T0 + 2_000, Grace);
        Assert.Equal(["node-a", "node-b"], mark.UploadedOn);
        Assert.Equal(T0 + 2_000, mark.UploadedUnixMs);

        // An hour and more later, the earlier upload's nodes may hold nothing of it any more (collected since).
        var later = T0 + 2_000 + (long)Grace.TotalMilliseconds + 1;
        OwnCopies.NoteEvent(mark, "node-c", later, Grace);
        Assert.Equal(["node-c"], mark.UploadedOn);
        Assert.Equal(later, mark.UploadedUnixMs);
    }

    [Fact]
    public void A_mark_keeps_at_most_MaxNodes_dropping_the_oldest()
    {
        var mark = new NamespaceChunkRecord();
        for (var i = 0; i <= OwnCopies.MaxNodes; i++)
        {
            OwnCopies.NoteEvent(mark, $"node-{i:D2}", T0 + i, Grace);
        }

        Assert.Equal(OwnCopies.MaxNodes, mark.UploadedOn.Count);
        Assert.Equal("node-01", mark.UploadedOn[0]);
        Assert.Equal($"node-{OwnCopies.MaxNodes:D2}", mark.UploadedOn[^1]);
    }
}
