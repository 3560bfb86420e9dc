using System.Text.Json;
using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// <c>standalone --storage-nodes 2</c> as a real process: what a storage node process logs while it starts (before it
/// listens) reaches the appliance's output, as its later lines do; here the chunk engine's recovery cutting a torn
/// record off a segment's tail (event 2001), in text and in JSON.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class StorageNodeStartLogTests : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private const int SigTerm = 15;
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Standalone_writes_a_storage_node_s_recovery_warning_logged_while_it_starts_into_its_output_as_text_and_as_json()
    {
        // Arrange: the appliance with two storage nodes starts once on a new data folder and stops cleanly; then the
        // open segment of storage-2 gets a torn record on its tail (300 bytes no record frames).
        var data = _dir.CreateSub("appliance");
        var segment = Path.Combine(data, "storage-2", "segments", "00000001.fseg");
        await RunUntilReadyAndStopAsync(data, "text", app => Task.CompletedTask);
        Assert.True(File.Exists(segment), segment);
        AppendTornRecord(segment, seed: 1);

        // Act + Assert (text): on restart storage-2's engine cuts the torn record off while it starts, and the
        // appliance's output has that warning, with the node's prefix.
        await RunUntilReadyAndStopAsync(data, "text", async app =>
        {
            var line = (await app.WaitForOutputAsync(TornTailTextLine(), StartTimeout)).Value;
            Assert.Contains("(300 bytes dropped; never acknowledged)", line, StringComparison.Ordinal);
        });

        // Act + Assert (JSON): another torn record, another restart with --log-format json: the same warning as one
        // JSON object naming the node.
        AppendTornRecord(segment, seed: 2);
        await RunUntilReadyAndStopAsync(data, "json", async app =>
        {
            var line = (await app.WaitForOutputAsync(TornTailJsonLine(), StartTimeout)).Value;
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            Assert.Equal("storage-2", root.GetProperty("Node").GetString());
            Assert.Equal(2001, root.GetProperty("EventId").GetInt32());
            Assert.Equal("Warning", root.GetProperty("LogLevel").GetString());
            Assert.Equal("Dropbox.StorageNode.Engine.ChunkEngine", root.GetProperty("Category").GetString());
            Assert.StartsWith("Cut a torn record off the tail of segment 1 at offset ", root.GetProperty("Message").GetString(), StringComparison.Ordinal);
        });
    }

    /// <summary>Starts the appliance on <paramref name="data"/>, waits for <c>ready:</c>, runs <paramref name="check"/>, then SIGTERM and a clean exit.</summary>
    private static async Task RunUntilReadyAndStopAsync(string data, string logFormat, Func<ChildProcess, Task> check)
    {
        using var app = ChildProcess.Start(Binaries.Appliance,
            ["standalone", "--data", data, "--port", "0", "--storage-nodes", "2", "--replicas", "1", "--log-format", logFormat]);
        await app.WaitForOutputAsync(ReadyLine(), StartTimeout);
        await check(app);
        app.Signal(SigTerm);
        var code = await app.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"the appliance exited {code}\nstdout:\n{app.Stdout}\nstderr:\n{app.Stderr}");
    }

    /// <summary>300 bytes on the segment's tail that no record frames, as a write cut short by a crash leaves.</summary>
    private static void AppendTornRecord(string segment, int seed)
    {
        var bytes = new byte[300];
#pragma warning disable CA5394 // Not security: a fixed, reproducible tail.
        new Random(seed).NextBytes(bytes);
#pragma warning restore CA5394
        using var file = new FileStream(segment, FileMode.Append, FileAccess.Write);
        file.Write(bytes);
        file.Flush(flushToDisk: true);
    }

    [GeneratedRegex(@"^ready: (http://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"^\[storage-2\] \S+ warn: Dropbox\.StorageNode\.Engine\.ChunkEngine\[2001\] Cut a torn record off the tail of segment 1 at offset \d+ [^\n]*$", RegexOptions.Multiline)]
    private static partial Regex TornTailTextLine();

    [GeneratedRegex(@"^\{""Node"":""storage-2"",[^\n]*""EventId"":2001,[^\n]*\}\r?$", RegexOptions.Multiline)]
    private static partial Regex TornTailJsonLine();
}
