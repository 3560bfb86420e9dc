using System.Text;
using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SecurityTests;

/// <summary>
/// The presigned HTTP links as curl or a hostile script would use them: malformed ids, tokens, headers and bodies. The
/// storage node answers each with a 4xx saying what was wrong, never a 5xx, never logs an exception, and serves the
/// genuine link afterwards.
/// </summary>
public sealed class PresignedLinkTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    [Fact]
    public async Task Malformed_presigned_requests_get_a_4xx_and_the_genuine_link_still_works()
    {
        var file = await _app.UploadAsync(_app.Alice, "links/file.bin", Appliance.Content(501, 30_000), pieceSize: 10_000);
        var plan = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path });
        var hex = Convert.ToHexStringLower(plan.Chunks[0].Chunk.Id.Span);
        var token = Uri.EscapeDataString(plan.Chunks[0].Tokens[0]);
        var root = _app.StorageHttpUrl.TrimEnd('/');
        var random = new Random(501);
        var ids = new[] { hex, hex.ToUpperInvariant(), hex[..63], hex + "0", "zz" + hex[2..], "..%2f..%2fetc%2fpasswd", "%00", new string('a', 10_000), "%C3%28" };
        var tokens = new[] { token, string.Empty, "%C3%28", new string('A', 20_000), token[..(token.Length / 2)], token + token, "a%00b" };
        var failures = new List<string>();

        for (var i = 0; i < 300; i++)
        {
            var url = $"{root}/chunks/{ids[random.Next(ids.Length)]}?token={tokens[random.Next(tokens.Length)]}";
            using var request = new HttpRequestMessage(random.Next(2) == 0 ? HttpMethod.Get : HttpMethod.Put, url);
            if (request.Method == HttpMethod.Put)
            {
                var body = new byte[random.Next(3) switch { 0 => 0, 1 => 10_000, _ => random.Next(50_000) }];
                random.NextBytes(body);
                request.Content = new ByteArrayContent(body);
                switch (random.Next(5))
                {
                    case 0:
                        request.Content.Headers.Add("X-Chunk-Encoding", "lz4");
                        request.Content.Headers.Add("X-Plain-Size", random.Next(3) switch { 0 => "-1", 1 => "99999999999", _ => "abc" });
                        break;
                    case 1:
                        request.Content.Headers.Add("X-Chunk-Encoding", "gzip");
                        break;
                    case 2:
                        request.Content.Headers.Add("X-Chunk-Encoding", "lz4");
                        request.Content.Headers.Add("X-Plain-Size", "10000");
                        break;
                }
            }
            else if (random.Next(3) == 0)
            {
                request.Headers.TryAddWithoutValidation("If-None-Match", random.Next(2) == 0 ? "*" : new string('"', 3_000));
            }

            using var response = await _app.Http.SendAsync(request);
            var status = (int)response.StatusCode;
            if (status >= 500 || status is < 200)
            {
                failures.Add($"{request.Method} {url[..Math.Min(url.Length, 200)]}: {status} {await response.Content.ReadAsStringAsync()}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
        var (ok, bytes) = await _app.HttpGetAsync(plan.Chunks[0].Nodes[0].HttpUrl, plan.Chunks[0].Chunk.Id, plan.Chunks[0].Tokens[0]);
        Assert.Equal(200, ok);
        Assert.Equal(file.Pieces[0], bytes);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task An_lz4_body_that_does_not_decode_to_its_claimed_plain_size_is_refused_and_not_stored()
    {
        var content = Appliance.Content(502, 10_000);
        var (chunks, _) = Appliance.Cut(content);
        var plan = await _app.Sync(_app.Alice).PlanUploadAsync(new PlanUploadRequest { Path = "links/lz4.bin", Size = 10_000, Chunks = { chunks } });
        var put = plan.Missing.Single();

        foreach (var (body, plainSize) in new[] { (Encoding.ASCII.GetBytes("not lz4 at all"), "10000"), (new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, "10000"), (Array.Empty<byte>(), "0"), (new byte[] { 0x10, 0x41 }, "2000000000") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, Appliance.ChunkUrl(put.Node.HttpUrl, put.ChunkId, put.Token)) { Content = new ByteArrayContent(body) };
            request.Content.Headers.Add("X-Chunk-Encoding", "lz4");
            request.Content.Headers.Add("X-Plain-Size", plainSize);
            using var response = await _app.Http.SendAsync(request);
            Assert.InRange((int)response.StatusCode, 400, 499);
        }

        var node = _app.NodeCredential();
        var has = await _app.Storage(node).HasChunksAsync(new Dropbox.Shared.Protos.Storage.HasChunksRequest { ChunkIds = { put.ChunkId }, Token = node });
        Assert.False(has.Present.Single());
        _app.AssertNoUnhandledExceptions(_logMark);
    }
}
