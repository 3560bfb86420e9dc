using Dropbox.SyncClient.State;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>The executable bit in the client's db: kept per synced file, and a db from before it reads as "unknown".</summary>
public sealed class LocalStateExecutableTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_db_from_before_the_executable_bit_opens_with_every_bit_unknown_and_then_keeps_the_bit()
    {
        // Arrange: the files table as older clients made it, with one synced file.
        var path = Path.Combine(_dir.Path, LocalState.DatabaseFileName);
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE files(path TEXT PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                    version INTEGER NOT NULL, hash BLOB NOT NULL, chunks BLOB NOT NULL);
                INSERT INTO files VALUES('old.sh', 0, 3, 5, 7, x'00', x'');
                """;
            cmd.ExecuteNonQuery();
        }

        // Act + Assert: the old row's bit reads as unknown; a new row keeps its bit (or its unknown) across a reopen.
        using (var state = LocalState.Open(_dir.Path))
        {
            Assert.Null(state.GetFile("old.sh")!.Executable);
            Assert.Null(state.LoadBaseIndex()["old.sh"].Executable);
            state.PutFile(new FileRecord("run.sh", FileKind.File, 3, 5, 8, [1]) { Executable = true }, null);
            state.PutFile(new FileRecord("plain.txt", FileKind.File, 3, 5, 9, [1]) { Executable = false }, null);
            state.PutFile(new FileRecord("fat.sh", FileKind.File, 3, 5, 10, [1]) { Executable = null }, null);
        }

        using var reopened = LocalState.Open(_dir.Path);
        Assert.True(reopened.GetFile("run.sh")!.Executable);
        Assert.True(reopened.LoadBaseIndex()["run.sh"].Executable);
        Assert.True(reopened.LoadFiles()["run.sh"].Executable);
        Assert.Null(reopened.LoadFiles()["old.sh"].Executable);
        Assert.False(reopened.GetFile("plain.txt")!.Executable);
        Assert.False(reopened.LoadBaseIndex()["plain.txt"].Executable);
        Assert.Null(reopened.GetFile("fat.sh")!.Executable);
        Assert.Null(reopened.LoadBaseIndex()["fat.sh"].Executable);
    }
}
