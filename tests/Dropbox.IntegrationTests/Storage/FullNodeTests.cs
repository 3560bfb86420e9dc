using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.MetadataNodeTests;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// A real metadata node and two real storage nodes as child processes, one started with a reserve larger than its disk
/// (so it is full from its first moment): it registers as full, and uploads land on the other node.
/// </summary>
public sealed partial class FullNodeTests : IDisposable
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(60);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_node_started_full_gets_no_new_chunks_and_an_upload_lands_on_the_other_node()
    {
        // Arrange: the shared key ring, a user, the metadata node, and two storage nodes, one with a 100 TB reserve.
        var data = _dir.Sub("db");
        var keys = _dir.Sub("keys");
        ChunkTokenService.ForKeyDirectory(keys).Issue(TokenOperation.System, NamespaceId.SystemValue, "metadata", [], TimeSpan.FromMinutes(1)); // creates the key first
        var (exit, stdout, stderr) = await MetadataProcess.RunVerbAsync("user", "add", "alice", "--data", data);
        Assert.True(exit == 0, stderr);
        var userToken = TokenLine().Match(stdout).Groups[1].Value;
        using var server = await MetadataProcess.StartServerAsync(data, keys);
        using var roomy = await StorageNodeProcess.StartAsync(_dir.Sub("roomy"), keys, "roomy", server.Url, logLevel: "Information");
        using var full = await StorageNodeProcess.StartAsync(_dir.Sub("full"), keys, "full", server.Url, reserveMb: 100_000_000, logLevel: "Information");
        await roomy.WaitForOutputAsync(Registered(), Bounded);
        await full.WaitForOutputAsync(Registered(), Bounded);

        using var channel = GrpcChannel.ForAddress(server.Url);
        var sync = new Sync.SyncClient(channel.Intercept(m =>
        {
            m.Add("authorization", "Bearer " + userToken);
            return m;
        }));
        var pieces = Enumerable.Range(0, 16).Select(_ => RandomNumberGenerator.GetBytes(4096)).ToList();
        var chunks = pieces.Select(p => ChunkRef.Raw(ChunkId.Compute(p), p.Length).ToProto()).ToList();
        var size = (ulong)pieces.Sum(p => p.Length);

        // Act: plan, put through the presigned links, commit.
        var plan = await sync.PlanUploadAsync(new PlanUploadRequest { Path = "f.bin", Size = size, MtimeUnixMs = 1, Chunks = { chunks } });
        using var http = new HttpClient();
        foreach (var put in plan.Missing)
        {
            var piece = pieces[chunks.FindIndex(c => c.Id == put.ChunkId)];
            using var content = new ByteArrayContent(piece);
            var url = $"{put.Node.HttpUrl.TrimEnd('/')}/chunks/{Convert.ToHexStringLower(put.ChunkId.Span)}?token={Uri.EscapeDataString(put.Token)}";
            using var response = await http.PutAsync(url, content);
            Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode} from {put.Node.NodeId}: {await response.Content.ReadAsStringAsync()}");
        }

        var committed = await sync.CommitFileAsync(new CommitFileRequest { Path = "f.bin", Size = size, MtimeUnixMs = 1, Chunks = { chunks } });

        // Assert: every put named the node with space, and the commit found every chunk stored.
        Assert.NotEmpty(plan.Missing);
        Assert.All(plan.Missing, put => Assert.Equal("roomy", put.Node.NodeId));
        Assert.Equal(1UL, committed.Entry.Version);
    }

    [GeneratedRegex(@"^token: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"Registered node")]
    private static partial Regex Registered();
}
