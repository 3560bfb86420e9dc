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

    [GeneratedRegex(@"^metrics: (http://127\.0\.0\.1:\d+)/metrics\s*$", RegexOptions.Multiline)]
    private static partial Regex MetricsLine();

    [GeneratedRegex(@"^\{.*/readyz.*\}\s*$", RegexOptions.Multiline)]
    private static partial Regex RequestLogLine();

    [GeneratedRegex(@"^(storage node listening|metrics): ")]
    private static partial Regex ProgramLine();
}
