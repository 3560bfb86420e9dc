using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>A row from before the bit (exec_bit unknown) plus a move never clears +x on the server.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ExecutableBitUpgradedRowTests : IDisposable
{
    private const UnixFileMode Plain = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Script = Plain | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_move_of_a_file_with_an_unknown_synced_bit_keeps_the_server_bit_and_gives_it_to_the_file_here()
    {
        using var b = await UpgradedWithPlainCopyAsync();
        using var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();
        File.Move(a.PathOf("tool.sh"), a.PathOf("tool2.sh"));
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.True(_server.Current("tool2.sh")!.Executable);
        Assert.NotEqual(0, (int)(File.GetUnixFileMode(b.PathOf("tool2.sh")) & UnixFileMode.UserExecute));
    }

    [Fact]
    public async Task A_local_move_of_a_file_with_an_unknown_synced_bit_keeps_the_server_bit_and_gives_it_to_the_file_here()
    {
        using var b = await UpgradedWithPlainCopyAsync();
        File.Move(b.PathOf("tool.sh"), b.PathOf("tool2.sh"));
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.True(_server.Current("tool2.sh")!.Executable);
        Assert.NotEqual(0, (int)(File.GetUnixFileMode(b.PathOf("tool2.sh")) & UnixFileMode.UserExecute));
    }

    /// <summary>B synced tool.sh (+x on the server) with a db from before the bit, and its copy here is 0644 (a pre-bit client's download, cp without -p).</summary>
    private async Task<TestClient> UpgradedWithPlainCopyAsync()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("tool.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(a.PathOf("tool.sh"), Script);
        await a.SyncAsync();
        var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        var stateDir = b.State.StateDirectory;
        var tool = b.PathOf("tool.sh");
        b.Dispose();
        DropBitColumns(stateDir);
        File.SetUnixFileMode(tool, Plain);
        var upgraded = new TestClient(_dir, "b", _server);
        Assert.Equal(0, (await upgraded.SyncAsync()).FilesUploaded);
        return upgraded;
    }

    private static void DropBitColumns(string stateDir)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(stateDir, Dropbox.SyncClient.State.LocalState.DatabaseFileName), Pooling = false }.ToString());
        db.Open();
        foreach (var column in new[] { "executable", "exec_bit" })
        {
            using var has = db.CreateCommand();
            has.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('files') WHERE name='{column}'";
            if ((long)has.ExecuteScalar()! > 0)
            {
                using var drop = db.CreateCommand();
                drop.CommandText = $"ALTER TABLE files DROP COLUMN {column}";
                drop.ExecuteNonQuery();
            }
        }
    }
}
