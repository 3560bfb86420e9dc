using System.Text.RegularExpressions;
using Dropbox.SyncClient.Cli;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Tests.Contract;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A client database (the SQLite file in the state directory) that is not one: every verb, run through the client's
/// entry, says so in one line that names the file and what to do, exits with the error code, and leaves the file as it was.
/// </summary>
public sealed class CorruptDatabaseTests(RealNodes nodes) : IClassFixture<RealNodes>, IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string[]> Cases()
    {
        var data = new TheoryData<string, string[]>();
        string[][] verbs =
        [
            ["status"], ["ls"], ["ls", "docs"], ["sync", "--once"], ["sync"], ["sync", "--now"], ["history", "a.txt"],
            ["restore", "a.txt"], ["link", "a.txt"], ["conflicts"], ["login"],
        ];
        foreach (var damage in new[] { "garbage", "truncated" })
        {
            foreach (var verb in verbs)
            {
                data.Add(damage, verb);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_corrupt_client_database_is_named_in_one_line_with_what_to_do_and_left_as_it_was(string damage, string[] verb)
    {
        // Arrange: a linked state directory (a real login), its database then damaged.
        var state = _dir.Sub("state");
        var folder = _dir.CreateSub("folder");
        var token = nodes.NewUserToken();
        string[] login = ["login", "--server", nodes.Url, "--token", token, "--folder", folder, "--state", state];
        var linked = await InProcessClient.RunAsync(login);
        Assert.True(linked.Code == ExitCodes.Ok, linked.Err);
        var db = Path.Combine(state, LocalState.DatabaseFileName);
        var good = await File.ReadAllBytesAsync(db);
        byte[] damaged = damage == "garbage"
            ? [.. Enumerable.Range(0, good.Length).Select(i => (byte)(i * 131 + 7))]
            : good[..(good.Length / 3)];
        await File.WriteAllBytesAsync(db, damaged);
        var before = Directory.GetFiles(state).Order(StringComparer.Ordinal).ToList();

        // Act
        string[] argv = verb[0] == "login" ? login : [.. verb, "--state", state];
        var (exit, stdout, stderr) = await InProcessClient.RunAsync(argv);

        // Assert: one line naming the file and what to do, the error code, nothing on disk changed.
        Assert.True(exit == ExitCodes.Errors, $"exit {exit}, stderr: {stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got: {stderr}");
        Assert.Contains(db, lines[0], StringComparison.Ordinal);
        Assert.Contains("not a valid client database", lines[0], StringComparison.Ordinal);
        Assert.Contains("login", lines[0], StringComparison.Ordinal);
        Assert.Contains("untouched", lines[0], StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
        Assert.Equal(damaged, await File.ReadAllBytesAsync(db));
        // No -wal, -shm or -journal beside it; 'sync --now' probing for a running daemon creates its lock file, as always.
        Assert.Equal(before, Directory.GetFiles(state).Where(f => Path.GetFileName(f) != "daemon.lock").Order(StringComparer.Ordinal).ToList());
        Assert.DoesNotContain(Directory.GetFileSystemEntries(folder), p => !Path.GetFileName(p).StartsWith('.'));
    }

    [Theory]
    [InlineData("status")]
    [InlineData("sync", "--once")]
    public async Task Damage_found_after_the_database_opened_gets_the_same_line(params string[] verb)
    {
        // Arrange: a linked state directory whose files table (and its index) is garbage, while the header, the schema
        // and the settings, all that opening reads, are intact: the damage shows only when a verb reads the synced files.
        var state = _dir.Sub("state");
        var folder = _dir.CreateSub("folder");
        var linked = await InProcessClient.RunAsync(["login", "--server", nodes.Url, "--token", nodes.NewUserToken(), "--folder", folder, "--state", state]);
        Assert.True(linked.Code == ExitCodes.Ok, linked.Err);
        var db = Path.Combine(state, LocalState.DatabaseFileName);
        long pageSize;
        List<long> pages;
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA page_size";
            pageSize = (long)command.ExecuteScalar()!;
            command.CommandText = "SELECT rootpage FROM sqlite_master WHERE tbl_name='files' AND rootpage > 0";
            using var reader = command.ExecuteReader();
            pages = [];
            while (reader.Read())
            {
                pages.Add(reader.GetInt64(0));
            }
        }

        await using (var file = new FileStream(db, FileMode.Open, FileAccess.Write))
        {
            foreach (var page in pages)
            {
                file.Position = (page - 1) * pageSize;
                file.Write([.. Enumerable.Repeat((byte)0xA5, (int)pageSize)]);
            }
        }

        var damaged = await File.ReadAllBytesAsync(db);

        // Act
        var (exit, _, stderr) = await InProcessClient.RunAsync([.. verb, "--state", state]);

        // Assert
        Assert.True(exit == ExitCodes.Errors, $"exit {exit}, stderr: {stderr}");
        Assert.Matches($@"^error: '{Regex.Escape(db)}' is not a valid client database \(SQLite: database disk image is malformed\)\. Move it aside and run login again[^\n]*\n$", stderr);
        Assert.Equal(damaged, await File.ReadAllBytesAsync(db));
    }
}
