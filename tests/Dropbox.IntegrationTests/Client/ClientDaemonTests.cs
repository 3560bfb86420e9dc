using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// The long-running <c>sync</c> daemon as a real process: stopping on SIGINT/SIGTERM, reconciling on its own at a
/// configured interval, and carrying a change from one running daemon to another. A real metadata node and storage node on 127.0.0.1 ephemeral ports.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClientDaemonTests : IDisposable
{
    private const int SigInt = 2;
    private const int SigTerm = 15;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private static readonly Regex PassDone = new(@"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )?sync: ", RegexOptions.Multiline);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(SigInt)]
    [InlineData(SigTerm)]
    public async Task The_daemon_stops_cleanly_on_a_signal_while_idle(int signal)
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        await a.LoginAsync();
        a.Write("doc.txt", "synced before the signal");
        File.SetLastWriteTimeUtc(a.PathOf("doc.txt"), DateTime.UtcNow.AddMinutes(-1));

        using var daemon = a.Start("sync");
        await daemon.WaitForOutputAsync(PassDone, Timeout);
        Assert.True(File.Exists(Path.Combine(a.State, "daemon.pid")));
        daemon.Signal(signal);
        var code = await daemon.WaitForExitAsync(Timeout);

        Assert.True(code == 0, $"exit {code}\n{daemon.Stdout}\n{daemon.Stderr}");
        Assert.False(File.Exists(Path.Combine(a.State, "daemon.pid")), "the daemon left its pid file behind");
        AssertDatabaseIntact(a.State);
        var next = await a.SyncAsync();
        Assert.Equal(0, next.FilesUploaded + next.FilesDownloaded + next.FilesDeleted + next.Errors);
        Assert.Contains(await cluster.NewClientListAsync(a), l => l.EndsWith("doc.txt", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(SigInt)]
    [InlineData(SigTerm)]
    public async Task The_daemon_stops_cleanly_on_a_signal_mid_upload_and_the_next_pass_sends_only_the_missing_chunks(int signal)
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        await a.LoginAsync();
        var content = new byte[128 << 20];
        new Random(11).NextBytes(content);
        a.Write("huge.bin", content);
        File.SetLastWriteTimeUtc(a.PathOf("huge.bin"), DateTime.UtcNow.AddMinutes(-1)); // stable: the first pass takes it

        long doneAtSignal;
        using (var daemon = a.Start("sync", "--parallelism", "1"))
        {
            doneAtSignal = await UploadProgressProbe.WaitForChunksAsync(a.State, atLeast: 4, daemon, Timeout, "the daemon exited during the upload.",
                () => Assert.DoesNotContain("uploaded 'huge.bin'", daemon.Stdout, StringComparison.Ordinal));
            daemon.Signal(signal);
            var code = await daemon.WaitForExitAsync(Timeout);
            Assert.True(code == 0, $"exit {code}\n{daemon.Stdout}\n{daemon.Stderr}");
        }

        AssertDatabaseIntact(a.State);
        var status = await a.RunAsync("status");
        Assert.Contains("unfinished upload: huge.bin", status.Stdout, StringComparison.Ordinal); // the signal really came mid-upload
        Assert.DoesNotContain(await cluster.NewClientListAsync(a), l => l.Contains("huge.bin", StringComparison.Ordinal));

        var resumed = await a.SyncAsync();

        Assert.Equal(1, resumed.FilesUploaded);
        var total = resumed.ChunksUploaded + resumed.ChunksDeduplicated;
        Assert.True(resumed.ChunksDeduplicated >= doneAtSignal, $"{doneAtSignal} chunks were stored before the signal, but only {resumed.ChunksDeduplicated} were skipped");
        Assert.True(resumed.ChunksUploaded <= total - doneAtSignal, $"re-sent chunks: uploaded {resumed.ChunksUploaded} of {total} after {doneAtSignal} were stored");
        Assert.Contains(await cluster.NewClientListAsync(a), l => l.Contains($"{content.Length}", StringComparison.Ordinal) && l.EndsWith("huge.bin", StringComparison.Ordinal));
        Assert.DoesNotContain("unfinished upload", (await a.RunAsync("status")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_daemon_reconciles_on_its_own_at_the_configured_interval_and_repairs_a_divergence()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        a.Write("same-size.txt", "aaaa");
        a.Write("db-row.txt", "the db will lie about this one");
        await a.SyncAsync();
        await b.SyncAsync();

        using var daemon = a.Start("sync", "--reconcile-interval", "2s");
        await daemon.WaitForOutputAsync(PassDone, Timeout);

        // Bytes change behind the db's back: same size, same mtime. An ordinary pass sees it by the ctime the kernel
        // moved (the db keeps each synced file's); where that is unknown (a row from before the column, no statx) it
        // trusts size+mtime and only a reconcile, which compares fingerprints, notices. Either way the edit reaches B.
        var full = a.PathOf("same-size.txt");
        var mtime = File.GetLastWriteTimeUtc(full);
        File.WriteAllText(full, "bbbb");
        File.SetLastWriteTimeUtc(full, mtime);

        await daemon.WaitForOutputAsync(new Regex("uploaded 'same-size.txt'|repaired: 'same-size.txt'"), Timeout);
        await WaitUntilAsync(async () => (await b.SyncAsync()).FilesDownloaded == 1 || b.Read("same-size.txt") == "bbbb", () => daemon.Stdout + daemon.Stderr);

        Assert.Equal("bbbb", b.Read("same-size.txt"));

        // A row of the local db made wrong behind the daemon's back (its content hash): only a reconcile,
        // which re-reads the file, notices; it repairs the row (and re-commits the same bytes).
        using (var conn = new SqliteConnection($"Data Source={Path.Combine(a.State, "client.db")};Pooling=false;Default Timeout=30"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = "UPDATE files SET hash = zeroblob(32) WHERE path = 'db-row.txt'";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }

        await daemon.WaitForOutputAsync(new Regex("repaired: 'db-row.txt'"), Timeout);
        Assert.Contains("pass (reconcile, due every 2s)", daemon.Stdout, StringComparison.Ordinal);
        using (var conn = new SqliteConnection($"Data Source={Path.Combine(a.State, "client.db")};Mode=ReadOnly;Pooling=false;Default Timeout=30"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = "SELECT hash FROM files WHERE path = 'db-row.txt'";
            Assert.NotEqual(new byte[32], (byte[])cmd.ExecuteScalar()!);
        }

        Assert.Equal("the db will lie about this one", a.Read("db-row.txt"));
    }

    [Fact]
    public async Task A_change_on_one_running_daemon_reaches_the_other_running_daemon_with_default_settings()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        using var daemonA = a.Start("sync");
        using var daemonB = b.Start("sync");
        await daemonA.WaitForOutputAsync(PassDone, Timeout);
        await daemonB.WaitForOutputAsync(PassDone, Timeout);
        string Diagnostics() => $"A:\n{daemonA.Stdout}{daemonA.Stderr}\nB:\n{daemonB.Stdout}{daemonB.Stderr}";

        // A new file in a new folder, then an edit of it: each must arrive whole on the other device, by itself.
        var content = new byte[4096];
        new Random(11).NextBytes(content);
        a.Write("notes/new.bin", content);
        await WaitUntilAsync(() => Task.FromResult(HasContent(b.PathOf("notes/new.bin"), content)), Diagnostics);

        var edited = content.Concat(System.Text.Encoding.UTF8.GetBytes("appended on alpha")).ToArray();
        a.Write("notes/new.bin", edited);
        await WaitUntilAsync(() => Task.FromResult(HasContent(b.PathOf("notes/new.bin"), edited)), Diagnostics);

        Assert.Contains("downloaded 'notes/new.bin'", daemonB.Stdout, StringComparison.Ordinal);
        foreach (var daemon in new[] { daemonA, daemonB })
        {
            daemon.Signal(SigTerm);
            var code = await daemon.WaitForExitAsync(Timeout);
            Assert.True(code == 0, $"exit {code}\n{Diagnostics()}");
        }
    }

    private static bool HasContent(string path, byte[] expected)
    {
        try
        {
            return File.ReadAllBytes(path).AsSpan().SequenceEqual(expected);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // not there yet (or being renamed into place)
        }
    }

    /// <summary>SQLite's own check of the state db, opened as a separate reader the way a next run would.</summary>
    private static void AssertDatabaseIntact(string stateDir)
    {
        using var conn = new SqliteConnection($"Data Source={Path.Combine(stateDir, "client.db")};Pooling=false");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", cmd.ExecuteScalar() as string);
    }


    private static async Task WaitUntilAsync(Func<Task<bool>> condition, Func<string> diagnostics)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("Condition not met in time.\n" + diagnostics());
    }
}
