using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>The db's memory of followed case-conflict moves read back: a damaged one is dropped whole, never thrown.</summary>
public sealed class FollowedCaseMovesLoadTests
{
    private const string Entry = "\"kind\":0,\"version\":7,\"deleted\":true,\"size\":3,\"mtime\":5,\"executable\":false,\"movedTo\":\"docs (Case Conflict)/x.txt\"";

    [Fact]
    public void A_remembered_move_reads_back()
    {
        var moves = FollowedCaseMoves.Load($"[{{\"path\":\"docs/x.txt\",\"hash\":\"abcd\",{Entry}}}]");

        var move = Assert.Single(moves);
        Assert.Equal("docs/x.txt", move.Path);
        Assert.Equal(7ul, move.Version);
        Assert.Equal("docs (Case Conflict)/x.txt", move.MovedTo);
    }

    [Theory]
    [InlineData("\"path\":null,\"hash\":\"abcd\"")]
    [InlineData("\"path\":\"docs/x.txt\",\"hash\":null")]
    [InlineData("\"path\":\"docs/x.txt\",\"hash\":\"zz\"")]
    public void A_remembered_move_without_a_path_or_a_readable_hash_drops_the_memory(string fields)
    {
        var moves = FollowedCaseMoves.Load($"[{{\"path\":\"ok.txt\",\"hash\":\"abcd\",{Entry}}},{{{fields},{Entry}}}]");

        Assert.Empty(moves);
    }
}
