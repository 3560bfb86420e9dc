using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Tests.Services;

public sealed class StorageNodeTlsTests
{
    [Fact]
    public async Task A_node_with_a_certificate_serves_presigned_https_links_and_grpc_over_tls_to_callers_that_trust_its_ca()
    {
        // Arrange: a CA and a server certificate for 127.0.0.1; a node on https URLs.
        using var dir = new TempFolder();
        var tls = LocalCertificateAuthority.Ensure(dir.Sub("tls"), ["127.0.0.1"]);
        var tokens = ChunkTokenService.ForKeyDirectory(dir.Sub("keys"));
        tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, "node-tls", [], TimeSpan.FromMinutes(1));
        var options = new StorageNodeOptions
        {
            DataDirectory = dir.Sub("data"),
            KeysDirectory = dir.Sub("keys"),
            GrpcUrl = "https://127.0.0.1:0",
            NodeId = "node-tls",
            TlsCertificate = tls.ServerCertificate,
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 22,
            CheckpointInterval = TimeSpan.Zero,
            CompactionInterval = TimeSpan.Zero,
        };
        await using var app = StorageNodeHost.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        var (grpcUrl, httpUrl) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(TimeSpan.FromSeconds(30));
        var trust = ServerTrust.ForCaFile(tls.CaCertificatePath, "--ca");
        using var http = new HttpClient(trust.CreateHandler());
        // A whole-size chunk: over TLS too the put gathers its body over many reads before storing it.
        var (id, bytes) = TestChunks.Random(Dropbox.StorageNode.Store.StoreLimits.DefaultMaxChunkBytes, 5);
        string Link(TokenOperation op) => $"{httpUrl}/chunks/{id}?token={Uri.EscapeDataString(tokens.Issue(op, "ns-tls", "node-tls", [id], TimeSpan.FromMinutes(5)))}";

        // Act: a presigned PUT and GET over https; HasChunks over gRPC with TLS.
        using var put = await http.PutAsync(Link(TokenOperation.Put), new ByteArrayContent(bytes));
        var got = await http.GetByteArrayAsync(Link(TokenOperation.Get));
        using var channel = GrpcChannel.ForAddress(grpcUrl, new GrpcChannelOptions { HttpHandler = trust.CreateHandler() });
        var has = new HasChunksRequest { Token = tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, "node-tls", [], TimeSpan.FromMinutes(5)) };
        has.ChunkIds.Add(id.ToByteString());
        var present = await new ChunkStorage.ChunkStorageClient(channel).HasChunksAsync(has);

        // Assert
        Assert.StartsWith("https://127.0.0.1:", grpcUrl, StringComparison.Ordinal);
        Assert.StartsWith("https://127.0.0.1:", httpUrl, StringComparison.Ordinal);
        Assert.True(put.IsSuccessStatusCode, $"put answered {(int)put.StatusCode}");
        Assert.Equal(bytes, got);
        Assert.True(present.Present.Single());

        // A caller that does not trust the CA is refused, with the fingerprints named; plaintext gets nothing.
        using var untrusting = new HttpClient(ServerTrust.System.CreateHandler());
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetByteArrayAsync(Link(TokenOperation.Get)));
        var reason = Inner<DropboxException>(refused);
        Assert.Contains(tls.ServerFingerprint, reason.Message, StringComparison.Ordinal);
        using var plain = new HttpClient();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetByteArrayAsync(Link(TokenOperation.Get).Replace("https://", "http://", StringComparison.Ordinal)));
        await app.StopAsync();
    }

    [Fact]
    public void A_node_refuses_to_listen_beyond_loopback_in_plaintext_and_creates_nothing()
    {
        using var dir = new TempFolder();
        var options = new StorageNodeOptions { DataDirectory = dir.Sub("data"), KeysDirectory = dir.Sub("keys"), GrpcUrl = "http://0.0.0.0:0" };

        var ex = Assert.Throws<DropboxException>(() => StorageNodeHost.Build(options));

        Assert.Contains("--insecure-http", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(options.DataDirectory));
    }

    private static T Inner<T>(Exception e)
        where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is T found)
            {
                return found;
            }
        }

        throw new Xunit.Sdk.XunitException($"No {typeof(T).Name} inside {e}");
    }
}
