using Dropbox.Shared.Chunks;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests;

public sealed class LocalStateTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Files_chunks_and_settings_survive_a_reopen()
    {
        var c1 = ChunkRef.Raw(ChunkId.Compute([1, 2, 3]), 3);
        var c2 = ChunkRef.Raw(ChunkId.Compute([4, 5]), 2);
        var hash = FileVersion.ComputeContentHash([c1.Id, c2.Id]);
        using (var state = LocalState.Open(_dir.Path))
        {
            state.SetSetting(StateKeys.Cursor, "abc");
            state.PutFile(new FileRecord("dir/ä.bin", FileKind.File, 5, 638_000_000_000_000_000, 42, hash), [c1, c2]);
            state.PutFile(new FileRecord("empty-dir", FileKind.Folder, 0, 0, 7, []), null);
            state.Uploads.Begin("big.bin", 100, 1, 10);
            state.Uploads.AddProgress("big.bin", 4);
        }

        using var reopened = LocalState.Open(_dir.Path);
        var files = reopened.LoadFiles();

        Assert.Equal("abc", reopened.GetSetting(StateKeys.Cursor));
        Assert.Equal(2, files.Count);
        var f = files["dir/ä.bin"];
        Assert.Equal((5L, 638_000_000_000_000_000L, 42UL), (f.Size, f.MtimeTicks, f.Version));
        Assert.Equal(hash, f.ContentHash);
        Assert.Equal([c1, c2], reopened.GetChunks("dir/ä.bin"));
        Assert.Equal(new LocalChunkLocation("dir/ä.bin", 3, 2), Assert.Single(reopened.FindChunk(c2.Id)));
        Assert.Equal(FileKind.Folder, files["empty-dir"].Kind);
        Assert.Equal(1, reopened.CountFiles());
        Assert.Equal(("big.bin", 10, 4), Assert.Single(reopened.Uploads.Pending()));
    }

    [Fact]
    public void Putting_many_files_at_once_replaces_each_record_and_chunk_index_as_one_by_one_would()
    {
        using var state = LocalState.Open(_dir.Path);
        var old = ChunkRef.Raw(ChunkId.Compute([1]), 1);
        var c1 = ChunkRef.Raw(ChunkId.Compute([2]), 4);
        var c2 = ChunkRef.Raw(ChunkId.Compute([3]), 6);
        state.PutFile(new FileRecord("a", FileKind.File, 1, 1, 1, []), [old]);

        state.PutFiles(
        [
            (new FileRecord("a", FileKind.File, 10, 2, 5, []), [c1, c2]),
            (new FileRecord("b", FileKind.File, 4, 3, 6, []), [c1]),
            (new FileRecord("dir", FileKind.Folder, 0, 0, 7, []), null),
        ]);

        var files = state.LoadFiles();
        Assert.Equal(["a", "b", "dir"], files.Keys.Order());
        Assert.Equal((10L, 5UL), (files["a"].Size, files["a"].Version));
        Assert.Equal([c1, c2], state.GetChunks("a"));
        Assert.Empty(state.FindChunk(old.Id));
        Assert.Equal([new LocalChunkLocation("a", 0, 4), new LocalChunkLocation("b", 0, 4)], state.FindChunk(c1.Id).OrderBy(l => l.Path));
        Assert.Equal(new LocalChunkLocation("a", 4, 6), Assert.Single(state.FindChunk(c2.Id)));
    }

    [Fact]
    public void Removing_a_file_drops_its_chunk_index()
    {
        using var state = LocalState.Open(_dir.Path);
        var c = ChunkRef.Raw(ChunkId.Compute([9]), 1);
        state.PutFile(new FileRecord("a", FileKind.File, 1, 1, 1, []), [c]);

        state.RemoveFile("a");

        Assert.Empty(state.FindChunk(c.Id));
        Assert.Null(state.GetFile("a"));
    }

    [Fact]
    public void The_database_runs_in_wal_mode()
    {
        using (LocalState.Open(_dir.Path))
        {
        }

        Assert.True(File.Exists(Path.Combine(_dir.Path, LocalState.DatabaseFileName)));
        using var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dir.Path, LocalState.DatabaseFileName)};Pooling=false");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", cmd.ExecuteScalar() as string);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    [Fact]
    public void The_state_folder_is_owner_only_and_the_database_holding_the_token_and_its_wal_are_0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var state = Path.Combine(_dir.Path, "state");
        using (var opened = LocalState.Open(state))
        {
            opened.SetSetting(StateKeys.Cursor, "abc");
            Assert.All(Directory.GetFiles(state, LocalState.DatabaseFileName + "*"), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(state));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(state, LocalState.DatabaseFileName)));
    }

    [Fact]
    public void A_state_folder_and_database_left_readable_by_others_are_tightened_on_open()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var state = Path.Combine(_dir.Path, "old-state");
        LocalState.Open(state).Dispose();
        var db = Path.Combine(state, LocalState.DatabaseFileName);
        File.SetUnixFileMode(state, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(db, (UnixFileMode)0b110_100_100);

        LocalState.Open(state).Dispose();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(state));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(db));
    }

    [Fact]
    public void A_batch_of_records_that_fails_part_way_records_none_of_them()
    {
        var c1 = ChunkRef.Raw(ChunkId.Compute([1]), 1);
        using var state = LocalState.Open(_dir.Path);
        state.PutFile(new FileRecord("kept.txt", FileKind.File, 1, 1, 1, FileVersion.ComputeContentHash([c1.Id])), [c1]);

        // The third record cannot be written (no content hash): the transaction must take the first two back with it.
        var batch = new List<(FileRecord, IReadOnlyList<ChunkRef>?)>
        {
            (new FileRecord("a.txt", FileKind.File, 1, 1, 2, FileVersion.ComputeContentHash([c1.Id])), [c1]),
            (new FileRecord("kept.txt", FileKind.File, 1, 1, 3, FileVersion.ComputeContentHash([c1.Id])), [c1]),
            (new FileRecord("b.txt", FileKind.File, 1, 1, 4, null!), [c1]),
        };

        Assert.ThrowsAny<Exception>(() => state.PutFiles(batch));

        Assert.Null(state.GetFile("a.txt"));
        Assert.Null(state.GetFile("b.txt"));
        Assert.Equal(1UL, state.GetFile("kept.txt")!.Version);
        Assert.Equal(new LocalChunkLocation("kept.txt", 0, 1), Assert.Single(state.FindChunk(c1.Id)));
    }

    [Fact]
    public void A_batch_with_an_empty_path_is_refused_whole_and_leaves_no_row_without_a_path()
    {
        // A zero-length UTF-8 buffer binds as NULL in raw SQLite: the row would be stored with no path, and every later
        // delete by path would miss it.
        var c1 = ChunkRef.Raw(ChunkId.Compute([1]), 1);
        using var state = LocalState.Open(_dir.Path);
        var batch = new List<(FileRecord, IReadOnlyList<ChunkRef>?)>
        {
            (new FileRecord("a.txt", FileKind.File, 1, 1, 2, FileVersion.ComputeContentHash([c1.Id])), [c1]),
            (new FileRecord("", FileKind.File, 1, 1, 3, FileVersion.ComputeContentHash([c1.Id])), [c1]),
        };

        var refused = Assert.Throws<ArgumentException>(() => state.PutFiles(batch));

        Assert.Contains("empty path", refused.Message, StringComparison.Ordinal);
        Assert.Empty(state.LoadFiles());
        Assert.Empty(state.FindChunk(c1.Id));
    }

    [Fact]
    public void FindChunks_finds_many_chunks_at_once_as_FindChunk_finds_each()
    {
        using var state = LocalState.Open(_dir.Path);
        var records = new List<(FileRecord, IReadOnlyList<ChunkRef>?)>();
        var ids = new List<ChunkId>();
        for (var i = 0; i < 600; i++)
        {
            var c = ChunkRef.Raw(ChunkId.Compute(BitConverter.GetBytes(i)), 10 + i);
            ids.Add(c.Id);
            records.Add((new FileRecord($"f{i}", FileKind.File, c.Size, 1, 1, FileVersion.ComputeContentHash([c.Id])), [c]));
        }

        state.PutFiles(records);
        ids.Add(ChunkId.Compute([9, 9, 9])); // held by no file

        var found = state.FindChunks(ids);

        Assert.Equal(600, found.Count);
        Assert.False(found.ContainsKey(ids[^1]));
        Assert.Equal(state.FindChunk(ids[0]), found[ids[0]]);
        Assert.Equal(new LocalChunkLocation("f599", 0, 609), Assert.Single(found[ids[599]]));
    }

    [Fact]
    public void A_reset_of_the_sync_state_forgets_the_case_conflict_memories_and_the_files_above_the_state_directory_of_the_old_link()
    {
        using var dir = new TempFolder();
        using var state = LocalState.Open(dir.Path);
        state.Writer.SetCaseFollowedMoves("[{\"path\":\"Docs/Report.txt\"}]");
        state.Writer.SetCaseRefusedOnServer("[\"docs\"]");
        state.Writer.SetFilesAboveStateDirectory("[{\"path\":\"sub\",\"version\":3,\"size\":1}]");
        state.Writer.SetFilesAboveStateDirectoryListed("sub/.state");

        state.ResetSyncState();

        Assert.Null(state.GetSetting(StateKeys.CaseFollowedMoves));
        Assert.Null(state.GetSetting(StateKeys.CaseRefusedOnServer));
        Assert.Null(state.GetSetting(StateKeys.FilesAboveStateDirectory));
        Assert.Null(state.GetSetting(StateKeys.FilesAboveStateDirectoryListed));
    }

    [Fact]
    public void The_base_index_carries_each_synced_file_s_hash_prefix_and_zero_where_the_hash_is_too_short()
    {
        // The prefix tells an echo of the synced content from other content under the same version number
        // (BaseStat.IsSyncedState): a load that dropped it would weaken that check without failing anything else.
        var hash = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray(); // no byte order reads the same reversed
        using var state = LocalState.Open(_dir.Path);
        state.PutFile(new FileRecord("full.bin", FileKind.File, 3, 5, 8, hash), null);
        state.PutFile(new FileRecord("short.bin", FileKind.File, 3, 5, 9, [1, 2, 3]), null);
        state.PutFile(new FileRecord("folder", FileKind.Folder, 0, 0, 10, []), null);

        var index = state.LoadBaseIndex();

        Assert.Equal(0x0807060504030201L, index["full.bin"].HashPrefix); // the first 8 bytes, little-endian
        Assert.Equal(BaseStat.PrefixOf(hash), index["full.bin"].HashPrefix);
        Assert.Equal(0, index["short.bin"].HashPrefix);
        Assert.Equal(0, index["folder"].HashPrefix);
        Assert.Equal(8UL, index["full.bin"].Version);
    }
}
