using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Sync;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests;

public sealed class RemoteChangesTests
{
    [Fact]
    public void The_newest_change_per_path_wins_and_moves_mark_both_ends()
    {
        var changes = new Dictionary<string, RemoteEntry>();
        RemoteChanges.Apply(changes,
        [
            Upsert(1, "a.txt"),
            Upsert(2, "b.txt"),
            new Change { Sequence = 3, Kind = ChangeKind.Delete, Entry = new FileEntry { Path = "b.txt", Version = 3, Deleted = true } },
            new Change { Sequence = 4, Kind = ChangeKind.Move, OldPath = "a.txt", Entry = new FileEntry { Path = "c.txt", Version = 4, ContentHash = ByteString.CopyFrom(1) } },
            Upsert(5, "d.txt"),
            Upsert(6, "d.txt"),
        ]);

        Assert.True(changes["a.txt"].Deleted);
        Assert.Equal("c.txt", changes["a.txt"].MovedTo);
        Assert.Equal("a.txt", changes["c.txt"].MovedFrom);
        Assert.False(changes["c.txt"].Deleted);
        Assert.True(changes["b.txt"].Deleted);
        Assert.Equal(6UL, changes["d.txt"].Version);
    }

    private static Change Upsert(ulong seq, string path) => new()
    {
        Sequence = seq,
        Kind = ChangeKind.Upsert,
        Entry = new FileEntry { Path = path, Version = seq, Size = 1, ContentHash = ByteString.CopyFrom((byte)seq) },
    };
}
