using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// The client as users meet it, against a real appliance process (<c>standalone</c>): the daemon carries on after the
/// server went away and came back, and after its folder vanished; the command line refuses what it does not know
/// and prints JSON a program can read; a file that keeps changing does not multiply the daemon's passes.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class ClientDaemonRobustnessTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_written_while_the_server_was_down_reaches_it_within_15_seconds_of_its_return_without_another_change()
    {
        var data = _dir.CreateSub("appliance");
        // A port outside the ephemeral range: restarted on it below, it cannot have become some connection's source
        // port meanwhile (CI saw ten restarts in a row refused with "address already in use" on an ephemeral one).
        var port = QuietPorts.Next();
        var appliance = StartApplianceOn(data, port);
        try
        {
            var (url, token) = await ReadyAsync(appliance);
            var (folder, state) = await LoginAsync(url, token);
            using var daemon = StartClient(state, "sync");
            await daemon.WaitForOutputAsync(PassDone(), Timeout);

            appliance.Kill(); // as a crash or a reboot would
            appliance.Dispose();
            await File.WriteAllTextAsync(Path.Combine(folder, "written-while-down.txt"), "kept for the server");
            // The watcher's pass finds the server unreachable and fails; nothing changes locally from here on.
            await daemon.WaitForOutputAsync(new Regex("error: .*not reachable"), Timeout);
            await Task.Delay(TimeSpan.FromSeconds(5)); // a few failed retries: the back-off has grown

            // Back on the same port.
            appliance = StartApplianceOn(data, port);
            await appliance.WaitForOutputAsync(ReadyLine(), Timeout);

            var back = Stopwatch.StartNew();
            while (true)
            {
                var ls = await RunClientAsync(state, "ls", "--json");
                if (ls.ExitCode == 0 && ls.Stdout.Contains("\"path\":\"written-while-down.txt\"", StringComparison.Ordinal))
                {
                    break;
                }

                Assert.True(back.Elapsed < TimeSpan.FromSeconds(15),
                    $"not on the server {back.Elapsed.TotalSeconds:F1} s after its return\ndaemon:\n{daemon.Stdout}\n{daemon.Stderr}");
                await Task.Delay(250);
            }

            Assert.False(daemon.HasExited, daemon.Stderr);
            Assert.DoesNotContain("Unhandled exception", daemon.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            appliance.Dispose();
        }
    }

    [Fact]
    public async Task A_daemon_whose_folder_is_missing_or_vanishes_says_so_waits_and_syncs_once_it_is_back()
    {
        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", _dir.CreateSub("appliance"), "--port", "0"]);
        var (url, token) = await ReadyAsync(appliance);
        var (folder, state) = await LoginAsync(url, token);
        Directory.Delete(folder);

        using var daemon = StartClient(state, "sync");
        await daemon.WaitForOutputAsync(new Regex("sync folder '.*' is missing"), Timeout);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(daemon.HasExited, $"exit {(daemon.HasExited ? daemon.ExitCode : 0)}\n{daemon.Stdout}\n{daemon.Stderr}");

        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "after-return.txt"), "back");
        await WaitForServerFileAsync(state, "after-return.txt", daemon);

        // Vanishes while the daemon runs (an unmounted drive, a folder moved away): a message, a wait, nothing deleted.
        var away = folder + ".away";
        Directory.Move(folder, away);
        await daemon.WaitForOutputAsync(new Regex("(?s)is back.*sync folder '.*' is missing"), Timeout);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(daemon.HasExited, daemon.Stderr);
        Directory.Move(away, folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "second.txt"), "after the second return");
        await WaitForServerFileAsync(state, "second.txt", daemon);
        Assert.Contains("\"path\":\"after-return.txt\"", (await RunClientAsync(state, "ls", "--json")).Stdout, StringComparison.Ordinal);

        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(Timeout));
        Assert.DoesNotContain("Unhandled exception", daemon.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", daemon.Stdout + daemon.Stderr, StringComparison.Ordinal); // no stack trace
    }

    [Fact]
    public async Task A_daemon_whose_folder_is_replaced_by_an_empty_one_deletes_nothing_on_the_server()
    {
        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", _dir.CreateSub("appliance"), "--port", "0"]);
        var (url, token) = await ReadyAsync(appliance);
        var (folder, state) = await LoginAsync(url, token);
        var files = Enumerable.Range(1, 5).Select(i => $"file{i}.txt").ToList();
        foreach (var f in files)
        {
            await File.WriteAllTextAsync(Path.Combine(folder, f), "kept " + f);
            File.SetLastWriteTimeUtc(Path.Combine(folder, f), DateTime.UtcNow.AddMinutes(-1));
        }

        using var daemon = StartClient(state, "sync");
        foreach (var f in files)
        {
            await WaitForServerFileAsync(state, f, daemon);
        }

        // mv folder away; mkdir folder: the daemon must not take the empty folder as "every file deleted".
        Directory.Move(folder, folder + ".away");
        Directory.CreateDirectory(folder);
        await daemon.WaitForOutputAsync(new Regex("not the folder that was synced"), Timeout);
        var once = await RunClientAsync(state, "sync", "--once");
        Assert.True(once.ExitCode == 3 && once.Stderr.Contains("--confirm-new-folder", StringComparison.Ordinal), once.ToString());
        var live = (await RunClientAsync(state, "ls", "--json")).Stdout;
        Assert.All(files, f => Assert.Contains($"\"path\":\"{f}\"", live, StringComparison.Ordinal));

        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(Timeout));

        // Confirmed as a new folder: merged with the server, nothing deleted.
        var merged = await RunClientAsync(state, "sync", "--once", "--confirm-new-folder");
        Assert.True(merged.ExitCode == 0, merged.ToString());
        Assert.All(files, f => Assert.Equal("kept " + f, File.ReadAllText(Path.Combine(folder, f))));
    }

    [Fact]
    public async Task Unknown_options_are_refused_with_exit_2_and_every_verb_that_prints_data_prints_parseable_json()
    {
        // Refused before anything runs, even with no linked account.
        var bogus = await RunClientAsync(_dir.CreateSub("unlinked"), "sync", "--once", "--bogus", "x");
        Assert.True(bogus.ExitCode == 2, bogus.ToString());
        Assert.Contains("--bogus", bogus.Stderr, StringComparison.Ordinal);
        var typo = await RunClientAsync(_dir.CreateSub("unlinked"), "sync", "--onse");
        Assert.True(typo.ExitCode == 2, typo.ToString());
        Assert.Matches("(?s)Did you mean.*--once", typo.Stderr);
        var version = await RunClientAsync(_dir.CreateSub("unlinked"), "--version");
        Assert.True(version.ExitCode == 0 && Regex.IsMatch(version.Stdout, @"^\d+\.\d+\.\d+"), version.ToString());

        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", _dir.CreateSub("appliance"), "--port", "0"]);
        var (url, token) = await ReadyAsync(appliance);
        var (folder, state) = await LoginAsync(url, token);
        Directory.CreateDirectory(Path.Combine(folder, "docs"));
        await File.WriteAllTextAsync(Path.Combine(folder, "docs", "a.txt"), "first");
        File.SetLastWriteTimeUtc(Path.Combine(folder, "docs", "a.txt"), DateTime.UtcNow.AddMinutes(-1));
        var sync = await RunClientAsync(state, "sync", "--once", "--json");
        Assert.True(sync.ExitCode == 0, sync.ToString());
        Assert.Equal(1, Lines(sync.Stdout).Single().GetProperty("filesUploaded").GetInt64());

        var ls = Lines((await RunClientAsync(state, "ls", "--json")).Stdout);
        Assert.Contains(ls, e => e.GetProperty("path").GetString() == "docs/a.txt" && e.GetProperty("kind").GetString() == "file" && e.GetProperty("size").GetInt64() == 5);

        var history = Lines((await RunClientAsync(state, "history", "docs/a.txt", "--json")).Stdout).Single();
        Assert.Equal(1UL, history.GetProperty("version").GetUInt64());
        Assert.False(history.GetProperty("deleted").GetBoolean());

        var status = Lines((await RunClientAsync(state, "status", "--json")).Stdout).Single();
        Assert.Equal(folder, status.GetProperty("folder").GetString());
        Assert.False(status.GetProperty("daemonRunning").GetBoolean());
        Assert.Equal(1, status.GetProperty("lastPass").GetProperty("filesUploaded").GetInt64());
        Assert.True(status.GetProperty("account").GetProperty("files").GetInt64() >= 1);

        var link = Lines((await RunClientAsync(state, "link", "docs/a.txt", "--json")).Stdout).Single();
        Assert.Equal(5, link.GetProperty("size").GetInt64());
        Assert.StartsWith("http://127.0.0.1:", link.GetProperty("chunks")[0].GetProperty("url").GetString(), StringComparison.Ordinal);

        var conflicts = await RunClientAsync(state, "conflicts", "--json");
        Assert.True(conflicts.ExitCode == 0 && Lines(conflicts.Stdout).Count == 0, conflicts.ToString());

        // A deleted folder: its files are listed as deleted, and restoring the folder brings them back. It was all the
        // sync folder held: an empty sync folder deletes nothing without --allow-mass-delete (exit 3), however few files.
        Directory.Delete(Path.Combine(folder, "docs"), recursive: true);
        var refused = await RunClientAsync(state, "sync", "--once", "--json");
        Assert.True(refused.ExitCode == 3 && refused.Stderr.Contains("sync folder is empty", StringComparison.Ordinal), refused.ToString());
        Assert.Contains(Lines((await RunClientAsync(state, "ls", "--json")).Stdout), e => e.GetProperty("path").GetString() == "docs/a.txt");
        var deleting = await RunClientAsync(state, "sync", "--once", "--json", "--allow-mass-delete");
        Assert.Equal(1, Lines(deleting.Stdout).Single().GetProperty("filesDeleted").GetInt64());
        var deleted = Lines((await RunClientAsync(state, "ls", "--deleted", "--json")).Stdout);
        Assert.Contains(deleted, e => e.GetProperty("path").GetString() == "docs/a.txt" && e.GetProperty("deleted").GetBoolean());
        Assert.DoesNotContain(Lines((await RunClientAsync(state, "ls", "--json")).Stdout), e => e.GetProperty("path").GetString() == "docs/a.txt");
        var restore = await RunClientAsync(state, "restore", "docs", "--json");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Equal("docs/a.txt", Lines(restore.Stdout).Single().GetProperty("path").GetString());
        var back = await RunClientAsync(state, "sync", "--once", "--json");
        Assert.Equal(1, Lines(back.Stdout).Single().GetProperty("filesDownloaded").GetInt64());
        Assert.Equal("first", await File.ReadAllTextAsync(Path.Combine(folder, "docs", "a.txt")));

        // --limit-up: 3 MiB of incompressible bytes at 1 MiB/s (one second's burst) take at least 2 s.
        var big = new byte[3 << 20];
        new Random(7).NextBytes(big);
        await File.WriteAllBytesAsync(Path.Combine(folder, "big.bin"), big);
        File.SetLastWriteTimeUtc(Path.Combine(folder, "big.bin"), DateTime.UtcNow.AddMinutes(-1));
        var clock = Stopwatch.StartNew();
        var limited = await RunClientAsync(state, "sync", "--once", "--json", "--limit-up", "1M");
        Assert.True(limited.ExitCode == 0, limited.ToString());
        Assert.Equal(big.Length, Lines(limited.Stdout).Single().GetProperty("bytesUploaded").GetInt64());
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"3 MiB went up in {clock.Elapsed.TotalSeconds:F2} s at a 1 MiB/s limit");

        // --limit-down: a second device takes the same 3 MiB down at 1 MiB/s, whole, in at least 2 s.
        var (folderB, stateB) = (_dir.CreateSub("folder-b"), _dir.CreateSub("state-b"));
        var loginB = await RunClientAsync(stateB, "login", "--server", url, "--token", token, "--folder", folderB, "--device", "robust-b");
        Assert.True(loginB.ExitCode == 0, loginB.ToString());
        clock.Restart();
        var limitedDown = await RunClientAsync(stateB, "sync", "--once", "--json", "--limit-down", "1M");
        Assert.True(limitedDown.ExitCode == 0, limitedDown.ToString());
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"3 MiB came down in {clock.Elapsed.TotalSeconds:F2} s at a 1 MiB/s limit");
        Assert.Equal(big, await File.ReadAllBytesAsync(Path.Combine(folderB, "big.bin")));
        var badRate = await RunClientAsync(state, "sync", "--once", "--limit-down", "fast");
        Assert.True(badRate.ExitCode == 2 && badRate.Stderr.Contains("--limit-down", StringComparison.Ordinal), badRate.ToString());
    }

    [Fact]
    public async Task A_file_appended_once_a_second_costs_a_bounded_number_of_daemon_passes()
    {
        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", _dir.CreateSub("appliance"), "--port", "0"]);
        var (url, token) = await ReadyAsync(appliance);
        var (folder, state) = await LoginAsync(url, token);
        using var daemon = StartClient(state, "sync", "--json"); // one JSON line per pass, idle or not
        await WaitForPassesAsync(daemon, 1);

        const int Appends = 10;
        var path = Path.Combine(folder, "busy.log");
        var before = Lines(daemon.Stdout).Count;
        for (var i = 0; i < Appends; i++)
        {
            await File.AppendAllTextAsync(path, $"line {i}\n");
            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        await Task.Delay(TimeSpan.FromSeconds(3)); // re-checks left over would fire here
        var passes = Lines(daemon.Stdout).Count - before;

        // Per append at most: the pass that takes it and the echo of its own commit through the change feed; plus
        // a few spare. Unmerged re-checks grew with time (18, 42, ... 136 passes per 10 s).
        Assert.True(passes <= (2 * Appends) + 4, $"{passes} passes for {Appends} appends in {Appends + 3} s\n{daemon.Stderr}");
        await WaitForServerFileAsync(state, "busy.log", daemon);
    }

    [Fact]
    public async Task A_paused_daemon_starts_no_pass_until_resumed_and_then_syncs_what_changed()
    {
        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", _dir.CreateSub("appliance"), "--port", "0"]);
        var (url, token) = await ReadyAsync(appliance);
        var (folder, state) = await LoginAsync(url, token);
        var noDaemon = await RunClientAsync(state, "sync", "--pause");
        Assert.True(noDaemon.ExitCode == 1 && noDaemon.Stderr.Contains("No sync daemon runs", StringComparison.Ordinal), noDaemon.ToString());

        using var daemon = StartClient(state, "sync");
        await daemon.WaitForOutputAsync(PassDone(), Timeout);
        Assert.Equal(0, (await RunClientAsync(state, "sync", "--pause")).ExitCode);
        await daemon.WaitForOutputAsync(new Regex("paused: no passes"), Timeout);
        Assert.Contains("\"daemonPaused\":true", (await RunClientAsync(state, "status", "--json")).Stdout, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(folder, "while-paused.txt"), "waits");
        await Task.Delay(TimeSpan.FromSeconds(4)); // the watcher saw it; a running daemon would have sent it by now
        Assert.DoesNotContain("while-paused.txt", (await RunClientAsync(state, "ls", "--json")).Stdout, StringComparison.Ordinal);

        Assert.Equal(0, (await RunClientAsync(state, "sync", "--resume")).ExitCode);
        await WaitForServerFileAsync(state, "while-paused.txt", daemon);
        Assert.Contains("\"daemonPaused\":false", (await RunClientAsync(state, "status", "--json")).Stdout, StringComparison.Ordinal);
    }

    private static async Task WaitForPassesAsync(ChildProcess daemon, int count)
    {
        var clock = Stopwatch.StartNew();
        while (Lines(daemon.Stdout).Count < count)
        {
            Assert.True(clock.Elapsed < Timeout && !daemon.HasExited, $"no pass\n{daemon.Stdout}\n{daemon.Stderr}");
            await Task.Delay(50);
        }
    }

    private static async Task WaitForServerFileAsync(string state, string path, ChildProcess daemon)
    {
        var clock = Stopwatch.StartNew();
        while (!(await RunClientAsync(state, "ls", "--json")).Stdout.Contains($"\"path\":\"{path}\"", StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < Timeout, $"'{path}' never reached the server\n{daemon.Stdout}\n{daemon.Stderr}");
            Assert.False(daemon.HasExited, $"the daemon exited with {(daemon.HasExited ? daemon.ExitCode : 0)}\n{daemon.Stdout}\n{daemon.Stderr}");
            await Task.Delay(250);
        }
    }

    /// <summary>Each line of <paramref name="stdout"/> that is a JSON object, parsed (a line that is not JSON fails the test).</summary>
    private static List<JsonElement> Lines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .ToList();

    private static ChildProcess StartApplianceOn(string data, int port) =>
        ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", data, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

    private static async Task<(string Url, string Token)> ReadyAsync(ChildProcess appliance)
    {
        var token = (await appliance.WaitForOutputAsync(TokenLine(), Timeout)).Groups[1].Value;
        var url = (await appliance.WaitForOutputAsync(ReadyLine(), Timeout)).Groups[1].Value;
        return (url, token);
    }

    private async Task<(string Folder, string State)> LoginAsync(string url, string token)
    {
        var folder = _dir.CreateSub("folder");
        var state = _dir.CreateSub("state");
        var login = await RunClientAsync(state, "login", "--server", url, "--token", token, "--folder", folder, "--device", "robust");
        Assert.True(login.ExitCode == 0, login.ToString());
        return (folder, state);
    }

    private static ChildProcess StartClient(string state, params string[] args) => ChildProcess.Start(Binaries.SyncClient, [.. args, "--state", state]);

    private static async Task<ClientResult> RunClientAsync(string state, params string[] args)
    {
        using var p = StartClient(state, args);
        var code = await p.WaitForExitAsync(ClientProcess.VerbTimeout);
        return new ClientResult(code, p.Stdout, p.Stderr);
    }

    [GeneratedRegex(@"^token: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"^ready: (http://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )?sync: ", RegexOptions.Multiline)]
    private static partial Regex PassDone();
}
