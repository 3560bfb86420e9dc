using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.MetadataNodeTests;
using Dropbox.Shared.Tokens;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// <c>link PATH</c> as a user meets it: real nodes (three storage nodes, R = 2) and client processes, the link fetched
/// as curl or a browser would, with a plain HTTP GET.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class FileLinkTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_link_downloads_the_whole_file_from_any_storage_node_and_keeps_serving_the_version_it_named()
    {
        // Arrange: a file of several chunks, spread over three nodes two copies each, so no node holds all of them.
        using var cluster = await ClientCluster.StartAsync(_dir, storageNodes: 3, replication: 2);
        var alice = cluster.NewClient("alice");
        await alice.LoginAsync();
        var first = RandomNumberGenerator.GetBytes((5 * 1024 * 1024) + 123);
        alice.Write("clips/holiday video.bin", first);
        await alice.SyncAsync(extra: ["--stable-age", "0"]);

        // Act: one link, printed alone on stdout.
        var human = await alice.RunAsync("link", "clips/holiday video.bin");
        Assert.True(human.ExitCode == 0, human.ToString());
        var url = human.Stdout.Trim();
        Assert.Matches(@"^http://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]+/holiday%20video\.bin$", url);

        // Assert: the body is the file, byte for byte, with its length and name; from every storage node the same (the
        // link names no node, and each node fetches the chunks it lacks from a peer).
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using (var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(first.Length, response.Content.Headers.ContentLength);
            Assert.Equal("holiday video.bin", response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
            Assert.Equal(first, await response.Content.ReadAsByteArrayAsync());
        }

        var path = new Uri(url).PathAndQuery;
        foreach (var node in cluster.StorageHttpUrls)
        {
            Assert.Equal(first, await http.GetByteArrayAsync(node + path));
        }

        // A new version: the old link still serves the old one, a link to the current one the new bytes, and a link asked
        // for by version number that version.
        var second = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        alice.Write("clips/holiday video.bin", second);
        await alice.SyncAsync(extra: ["--stable-age", "0"]);
        Assert.Equal(first, await http.GetByteArrayAsync(url));
        var current = Json(await alice.RunAsync("link", "clips/holiday video.bin", "--json"));
        Assert.Equal(second, await http.GetByteArrayAsync(current.GetProperty("url").GetString()));
        Assert.Equal((long)second.Length, current.GetProperty("size").GetInt64());
        var version = current.GetProperty("version").GetUInt64();
        var old = Json(await alice.RunAsync("link", "clips/holiday video.bin", "--version", (version - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "--json"));
        Assert.Equal(first, await http.GetByteArrayAsync(old.GetProperty("url").GetString()));

        // HEAD answers the headers alone.
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, url));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(first.Length, head.Content.Headers.ContentLength);
        Assert.False(head.Headers.Contains("X-File-Version")); // the account's change counter stays private
    }

    [Fact]
    public async Task A_tampered_expired_or_dangling_link_is_refused_and_another_accounts_file_is_out_of_reach()
    {
        // Arrange: alice's secret, and bob, a second account on the same appliance.
        using var cluster = await ClientCluster.StartAsync(_dir, storageNodes: 2, replication: 1);
        var alice = cluster.NewClient("alice");
        await alice.LoginAsync();
        alice.Write("secret.txt", "alice's secret");
        await alice.SyncAsync(extra: ["--stable-age", "0"]);
        var add = await MetadataProcess.RunVerbAsync("user", "add", "bob", "--server", cluster.MetadataUrl, "--token", cluster.Token);
        Assert.True(add.ExitCode == 0, add.Stderr);
        var bobToken = TokenLine().Match(add.Stdout).Groups[1].Value;
        var bob = new ClientProcess(cluster, "bob", _dir.CreateSub("bob-folder"), _dir.CreateSub("bob-state"));
        var login = await bob.RunAsync("login", "--server", cluster.MetadataUrl, "--token", bobToken, "--folder", bob.Folder, "--device", "bob");
        Assert.True(login.ExitCode == 0, login.ToString());
        bob.Write("secret.txt", "bob's own file");
        await bob.SyncAsync(extra: ["--stable-age", "0"]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

        // Act + Assert: each account's link serves its own file of that name, never the other's.
        var aliceUrl = (await alice.RunAsync("link", "secret.txt")).Stdout.Trim();
        var bobUrl = (await bob.RunAsync("link", "secret.txt")).Stdout.Trim();
        Assert.Equal("alice's secret", await http.GetStringAsync(aliceUrl));
        Assert.Equal("bob's own file", await http.GetStringAsync(bobUrl));
        alice.Write("only-alice.txt", "private");
        await alice.SyncAsync(extra: ["--stable-age", "0"]);
        var foreign = await bob.RunAsync("link", "only-alice.txt");
        Assert.True(foreign.ExitCode != 0 && foreign.Stdout.Trim().Length == 0, foreign.ToString());
        Assert.Contains("does not exist", foreign.Stderr, StringComparison.Ordinal);

        // A link altered anywhere in its token (say, to point it at another account) is refused: 403, no bytes.
        var token = Regex.Match(aliceUrl, "/l/([^/]+)/").Groups[1].Value;
        var flipped = token[..20] + (token[20] == 'A' ? 'B' : 'A') + token[21..];
        await AssertRefusedAsync(http, aliceUrl.Replace(token, flipped, StringComparison.Ordinal), HttpStatusCode.Forbidden, "not valid");
        await AssertRefusedAsync(http, aliceUrl.Replace(token, token[..^8], StringComparison.Ordinal), HttpStatusCode.Forbidden, "not valid");
        await AssertRefusedAsync(http, aliceUrl.Replace(token, "not-a-token", StringComparison.Ordinal), HttpStatusCode.Forbidden, "not valid");

        // Signed with the appliance's own key ring: an expired link is gone (410); one to a version that does not exist
        // is not found (404).
        var ns = Json(await alice.RunAsync("status", "--json")).GetProperty("account").GetProperty("namespace").GetString()!;
        var links = ChunkTokenService.ForKeyDirectory(Path.Combine(_dir.Path, "keys")).FileLinks();
        var baseUrl = cluster.StorageHttpUrls[0];
        var expired = links.Issue(new FileLink(ns, "secret.txt", 1, DateTimeOffset.UtcNow.AddSeconds(-1)));
        await AssertRefusedAsync(http, $"{baseUrl}/l/{expired}/secret.txt", HttpStatusCode.Gone, "expired");
        var dangling = links.Issue(new FileLink(ns, "secret.txt", 999, DateTimeOffset.UtcNow.AddMinutes(5)));
        await AssertRefusedAsync(http, $"{baseUrl}/l/{dangling}/secret.txt", HttpStatusCode.NotFound, "no longer available");

        // A link asked to expire within a second stops working.
        var shortLived = (await alice.RunAsync("link", "secret.txt", "--expires", "1s")).Stdout.Trim();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        HttpStatusCode status;
        do
        {
            using var response = await http.GetAsync(shortLived);
            status = response.StatusCode;
            Assert.True(status is HttpStatusCode.OK or HttpStatusCode.Gone, $"{status}");
            if (status == HttpStatusCode.OK)
            {
                await Task.Delay(100);
            }
        }
        while (status != HttpStatusCode.Gone && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.Gone, status);
    }

    private static async Task AssertRefusedAsync(HttpClient http, string url, HttpStatusCode expected, string why)
    {
        using var response = await http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{url}: {(int)response.StatusCode} {body}");
        Assert.Contains(why, body, StringComparison.Ordinal);

        // The body is one fixed sentence: nothing of the path, the version or the metadata node's own message.
        Assert.DoesNotContain("secret", body, StringComparison.Ordinal);
        Assert.DoesNotContain("version", body, StringComparison.OrdinalIgnoreCase);
        Assert.False(response.Headers.Contains("X-File-Version"));
    }

    private static JsonElement Json(ClientResult result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.Stdout.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    [GeneratedRegex(@"token:\s*(\S+)")]
    private static partial Regex TokenLine();
}
