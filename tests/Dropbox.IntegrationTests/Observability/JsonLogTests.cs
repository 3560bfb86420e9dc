using System.Text.Json;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;

namespace Dropbox.IntegrationTests.Observability;

/// <summary><c>--log-format json</c> on a real node process: every log line is one JSON object a log shipper can parse.</summary>
[Trait("Category", "Slow")]
public sealed partial class JsonLogTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_storage_node_with_log_format_json_writes_each_log_line_and_each_request_as_one_json_object()
    {
        // Arrange: a storage node process logging JSON at information level.
        using var node = ChildProcess.Start(Binaries.StorageNode,
            ["--data", _dir.CreateSub("data"), "--keys", _dir.CreateSub("keys"), "--urls", "http://127.0.0.1:0", "--node-id", "json-1", "--log-format", "json"]);
        var http = (await node.WaitForOutputAsync(MetricsLine(), Timeout)).Groups[1].Value;

        // Act: one request, with a query string that must not reach the log.
        using var client = new HttpClient();
        using var response = await client.GetAsync(http + "/readyz?token=secret-in-query");
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        await node.WaitForOutputAsync(RequestLogLine(), Timeout);

        // Assert: every line that is not the program's own "key: value" output parses as a JSON object with the
        // fields a shipper keys on; the request line names the path and status, not the query.
        var logLines = node.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !ProgramLine().IsMatch(l))
            .ToList();
        Assert.True(logLines.Count >= 2, node.Stdout);
        foreach (var line in logLines)
        {
            using var json = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
            Assert.True(json.RootElement.TryGetProperty("LogLevel", out _), line);
            Assert.True(json.RootElement.TryGetProperty("Category", out _), line);
            Assert.True(json.RootElement.TryGetProperty("Timestamp", out _), line);
        }

        var request = logLines.Single(l => l.Contains("/readyz", StringComparison.Ordinal));
        using var requestJson = JsonDocument.Parse(request);
        Assert.Equal("Information", requestJson.RootElement.GetProperty("LogLevel").GetString());
        Assert.Contains("GET /readyz HTTP/1.1 -> 200", requestJson.RootElement.GetProperty("Message").GetString(), StringComparison.Ordinal);
        Assert.Equal(200, requestJson.RootElement.GetProperty("State").GetProperty("StatusCode").GetInt32());
        Assert.DoesNotContain("secret-in-query", node.Stdout + node.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metadata_node_with_log_format_json_writes_each_log_line_as_one_json_object_and_a_failed_call_at_information()
    {
        // Arrange: a metadata node process logging JSON at information level.
        using var node = ChildProcess.Start(Binaries.MetadataNode,
            ["--data", _dir.CreateSub("meta"), "--keys", _dir.CreateSub("keys"), "--urls", "http://127.0.0.1:0", "--gc-interval-seconds", "0", "--log-format", "json"]);
        var url = (await node.WaitForOutputAsync(MetadataListeningLine(), Timeout)).Groups[1].Value;
        await node.WaitForOutputAsync(MetricsLine(), Timeout);

        // Act: a call with a token nobody was given.
        await ExpectUnauthenticatedAsync(() => AskAccountAsync(url));
        var failed = await node.WaitForOutputAsync(FailedCallLine("Sync/GetAccount"), Timeout);
        // The request's own log line is written when the response ends, after the interceptor's line: wait for it too.
        await node.WaitForOutputAsync(GrpcRequestLogLine(), Timeout);

        // Assert: every log line is a JSON object; the failed call is event 1100 at information, with its status.
        AssertEveryLogLineIsJson(node);
        AssertFailedCallLine(failed.Value, "/dropbox.metadata.v1.Sync/GetAccount", node: null);
    }

    [Fact]
    public async Task Standalone_with_log_format_json_and_two_storage_nodes_writes_every_line_of_every_process_as_json_and_failed_calls_at_information()
    {
        // Arrange: the appliance with two storage node processes, logging JSON at information level.
        using var appliance = ChildProcess.Start(Binaries.Appliance,
            ["standalone", "--data", _dir.CreateSub("appliance"), "--port", "0", "--storage-nodes", "2", "--log-format", "json"]);
        var url = (await appliance.WaitForOutputAsync(ReadyLine(), TimeSpan.FromSeconds(120))).Groups[1].Value;
        var nodes = StorageNodeLine().Matches(appliance.Stdout).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, nodes.Count);

        // Act: a call with a bad token to the metadata node (in the appliance's process) and to each storage node.
        await ExpectUnauthenticatedAsync(() => AskAccountAsync(url));
        foreach (var storage in nodes)
        {
            await ExpectUnauthenticatedAsync(() => AskStatsAsync(storage));
        }

        var metadataFailed = await appliance.WaitForOutputAsync(FailedCallLine("Sync/GetAccount"), Timeout);
        var storageFailed = new List<string>();
        for (var i = 1; i <= nodes.Count; i++)
        {
            storageFailed.Add((await appliance.WaitForOutputAsync(ForwardedFailedCallLine($"storage-{i}", "ChunkStorage/GetStats"), Timeout)).Value);
        }

        // Assert: every line but the appliance's own "key: value" lines is a JSON object, the storage nodes' included
        // (named by a Node property, not a text prefix); each failed call is event 1100 at information.
        AssertEveryLogLineIsJson(appliance);
        AssertFailedCallLine(metadataFailed.Value, "/dropbox.metadata.v1.Sync/GetAccount", node: null);
        for (var i = 0; i < storageFailed.Count; i++)
        {
            AssertFailedCallLine(storageFailed[i], "/dropbox.storage.v1.ChunkStorage/GetStats", node: $"storage-{i + 1}");
        }
    }

    private static async Task AskAccountAsync(string url)
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(url);
        await new Dropbox.Shared.Protos.Metadata.Sync.SyncClient(channel).GetAccountAsync(
            new Dropbox.Shared.Protos.Metadata.GetAccountRequest(),
            new Grpc.Core.Metadata { { "authorization", "Bearer not-a-token" } });
    }

    private static async Task AskStatsAsync(string url)
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(url);
        await new Dropbox.Shared.Protos.Storage.ChunkStorage.ChunkStorageClient(channel).GetStatsAsync(
            new Dropbox.Shared.Protos.Storage.GetStatsRequest { Token = "not-a-token" });
    }

    private static async Task ExpectUnauthenticatedAsync(Func<Task> call)
    {
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(call);
        Assert.Equal(Grpc.Core.StatusCode.Unauthenticated, refused.StatusCode);
    }

    /// <summary>Every line of stdout and stderr that is not the program's own "key: value" output is one JSON log object.</summary>
    private static void AssertEveryLogLineIsJson(ChildProcess process)
    {
        var lines = (process.Stdout + process.Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.TrimEnd('\r'))
            .Where(l => !ProgramLine().IsMatch(l))
            .ToList();
        Assert.True(lines.Count >= 2, process.Stdout + process.Stderr);
        foreach (var line in lines)
        {
            JsonDocument json;
            try
            {
                json = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                Assert.Fail($"not a JSON object ({e.Message}): {line}");
                throw;
            }

            using (json)
            {
                Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
                Assert.True(json.RootElement.TryGetProperty("LogLevel", out _), line);
                Assert.True(json.RootElement.TryGetProperty("Category", out _), line);
                Assert.True(json.RootElement.TryGetProperty("Timestamp", out _), line);
            }
        }
    }

    private static void AssertFailedCallLine(string line, string method, string? node)
    {
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        Assert.Equal(1100, root.GetProperty("EventId").GetInt32());
        Assert.Equal("Information", root.GetProperty("LogLevel").GetString());
        Assert.Equal("Dropbox.Hosting.GrpcMetricsInterceptor", root.GetProperty("Category").GetString());
        Assert.StartsWith($"gRPC {method} failed: Unauthenticated: ", root.GetProperty("Message").GetString(), StringComparison.Ordinal);
        Assert.Equal(node, root.TryGetProperty("Node", out var n) ? n.GetString() : null);
    }

    private static Regex FailedCallLine(string method) =>
        new($@"(?m)^\{{""Timestamp"":[^\n]*""EventId"":1100,[^\n]*{Regex.Escape(method)} failed[^\n]*\}}\r?$");

    private static Regex ForwardedFailedCallLine(string node, string method) =>
        new($@"(?m)^\{{""Node"":""{Regex.Escape(node)}"",[^\n]*""EventId"":1100,[^\n]*{Regex.Escape(method)} failed[^\n]*\}}\r?$");

    [GeneratedRegex(@"^metrics: (http://127\.0\.0\.1:\d+)/metrics\s*$", RegexOptions.Multiline)]
    private static partial Regex MetricsLine();

    [GeneratedRegex(@"^listening: (\S+)", RegexOptions.Multiline)]
    private static partial Regex MetadataListeningLine();

    [GeneratedRegex(@"^ready: (http://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"^storage-node: (http://127\.0\.0\.1:\d+) pid (\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex StorageNodeLine();

    [GeneratedRegex(@"^\{.*/readyz.*\}\s*$", RegexOptions.Multiline)]
    private static partial Regex RequestLogLine();

    [GeneratedRegex(@"^\{.*""EventId"":1200,.*/dropbox\.metadata\.v1\.Sync/GetAccount.*\}\s*$", RegexOptions.Multiline)]
    private static partial Regex GrpcRequestLogLine();

    // The programs' own output (what parsers and operators read), not log lines: the storage node's and the metadata
    // node's listening and metrics lines, and the appliance's token, TLS, storage, replicas and ready lines.
    [GeneratedRegex(@"^(storage node listening|listening|metrics|token|ca|fingerprint|storage|storage-node|replicas|ready): |^(stopping\.\.\.|stopped)$")]
    private static partial Regex ProgramLine();
}
