using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Appliance;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// The natively compiled client (the README's published form, the one the benchmark runner measures) against real
/// nodes, beside a JIT-compiled one: what it uploads the other downloads byte for byte and the other way round, its
/// daemon watches and long-polls, and it prints what the JIT-compiled client prints. Native compilation drops
/// reflection-based code that nothing else would notice missing; this is where it shows.
/// </summary>
[Trait("Category", "Slow")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NativeClientTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_native_client_syncs_both_ways_with_a_jit_client_runs_a_daemon_and_prints_the_same_json()
    {
        // Arrange: one appliance's nodes; alpha runs the native client, bravo the built dll under dotnet.
        var native = await NativeClient.ExecutableAsync();
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha", native);
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        var version = await a.RunAsync("--version");
        var jitVersion = await b.RunAsync("--version");
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Equal(jitVersion.Stdout, version.Stdout);

        var big = RandomNumberGenerator.GetBytes(9 << 20);
        a.Write("media/big.bin", big);
        a.Write("notes/hello.txt", "hello");
        a.Write("empty.txt", []);
        a.Write("ünïcödé/名前.txt", "unicode");
        a.Write("bin/tool.sh", "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(a.PathOf("bin/tool.sh"), File.GetUnixFileMode(a.PathOf("bin/tool.sh")) | UnixFileMode.UserExecute);

        // Act and assert: native up, JIT down.
        var up = await a.SyncAsync();
        var down = await b.SyncAsync();
        Assert.Equal(5, up.FilesUploaded);
        Assert.True(up.ChunksUploaded >= 3, $"a 9 MiB file is several chunks, got {up.ChunksUploaded}");
        Assert.Equal(5, down.FilesDownloaded);
        Assert.Equal(SHA256.HashData(big), SHA256.HashData(File.ReadAllBytes(b.PathOf("media/big.bin"))));
        Assert.Equal("hello", b.Read("notes/hello.txt"));
        Assert.Equal(0, new FileInfo(b.PathOf("empty.txt")).Length);
        Assert.Equal("unicode", b.Read("ünïcödé/名前.txt"));
        Assert.True(File.GetUnixFileMode(b.PathOf("bin/tool.sh")).HasFlag(UnixFileMode.UserExecute), "the executable bit the native client read did not reach the other device");

        // JIT up (an edit in the middle of the big file: a delta), native down.
        big[4 << 20] ^= 0x5A;
        b.Write("media/big.bin", big);
        b.Write("notes/from-bravo.txt", "back");
        var editUp = await b.SyncAsync();
        var editDown = await a.SyncAsync();
        Assert.Equal(2, editUp.FilesUploaded);
        Assert.Equal(2, editDown.FilesDownloaded);
        Assert.True(editDown.ChunksReused >= 1, $"the native client's delta download reused no chunk: {editDown.ChunksReused}");
        Assert.Equal(SHA256.HashData(big), SHA256.HashData(File.ReadAllBytes(a.PathOf("media/big.bin"))));
        Assert.Equal("back", a.Read("notes/from-bravo.txt"));

        // The same JSON lines from both (ls, history), and a status that parses with the device's name.
        foreach (var verb in new[] { new[] { "ls", "--json" }, ["ls", "notes", "--json"], ["history", "media/big.bin", "--json"] })
        {
            var nativeOut = await a.RunAsync(verb);
            var jitOut = await b.RunAsync(verb);
            Assert.True(nativeOut.ExitCode == 0, nativeOut.ToString());
            Assert.True(jitOut.ExitCode == 0, jitOut.ToString());
            Assert.False(string.IsNullOrWhiteSpace(nativeOut.Stdout), nativeOut.ToString());
            Assert.Equal(jitOut.Stdout, nativeOut.Stdout);
        }

        var status = await a.RunAsync("status", "--json");
        var jitStatus = await b.RunAsync("status", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        using (var doc = JsonDocument.Parse(status.Stdout.Trim().Split('\n')[^1]))
        using (var jitDoc = JsonDocument.Parse(jitStatus.Stdout.Trim().Split('\n')[^1]))
        {
            Assert.Equal("alpha", doc.RootElement.GetProperty("device").GetString());
            Assert.True(doc.RootElement.GetProperty("trackedFiles").GetInt64() >= 6, status.Stdout);
            Assert.Equal(jitDoc.RootElement.GetProperty("trackedFiles").GetInt64(), doc.RootElement.GetProperty("trackedFiles").GetInt64());
            Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("lastPass").ValueKind);
        }

        // Standard output closed (a daemon started with >&-): one line on stderr and exit 1, as the dll does, not an abort.
        foreach (var client in new[] { a, b })
        {
            var command = client.Binary.EndsWith(".dll", StringComparison.Ordinal) ? "exec dotnet \"$0\" status --state \"$1\" >&-" : "exec \"$0\" status --state \"$1\" >&-";
            using var closed = ChildProcess.Start("sh", ["-c", command, client.Binary, client.State]);
            var code = await closed.WaitForExitAsync(Timeout);
            Assert.True(code == 1 && closed.Stderr.Contains("error:", StringComparison.Ordinal), $"{client.Binary} with stdout closed: exit {code}\n{closed.Stderr}");
        }

        // The native daemon: a change from the other device arrives (long poll), a local write leaves (watcher).
        using var daemon = a.Start("sync");
        await daemon.WaitForOutputAsync(new Regex("sync: "), Timeout);
        b.Write("pushed.txt", "to the daemon");
        await b.SyncAsync();
        await StandaloneNodes.WaitUntilAsync(() => Task.FromResult(File.Exists(a.PathOf("pushed.txt")) && a.Read("pushed.txt") == "to the daemon"), Timeout, () => daemon.Stdout + daemon.Stderr);
        a.Write("watched.txt", "from the daemon");
        await StandaloneNodes.WaitUntilAsync(async () => (await b.SyncAsync()).FilesDownloaded == 1 || File.Exists(b.PathOf("watched.txt")), Timeout, () => daemon.Stdout + daemon.Stderr);
        Assert.Equal("from the daemon", b.Read("watched.txt"));
    }
}
