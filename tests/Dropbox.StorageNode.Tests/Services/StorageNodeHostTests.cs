using Dropbox.Shared.Compression;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

public sealed class StorageNodeHostTests
{
    [Fact]
    public async Task Without_a_node_id_option_the_node_generates_one_once_and_keeps_it_across_restarts()
    {
        using var dir = new TempDirectory();
        var options = new StorageNodeOptions
        {
            DataDirectory = dir.Sub("data"),
            KeysDirectory = dir.Sub("keys"),
            GrpcUrl = "http://127.0.0.1:0",
            CheckpointInterval = TimeSpan.Zero,
            CompactionInterval = TimeSpan.Zero,
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 22,
        };

        string first;
        await using (var app = StorageNodeHost.Build(options))
        {
            first = app.Services.GetRequiredService<ChunkStore>().NodeId.Value;
        }

        await using var again = StorageNodeHost.Build(options);

        Assert.StartsWith("storage-", first, StringComparison.Ordinal);
        Assert.Equal(first, again.Services.GetRequiredService<ChunkStore>().NodeId.Value);
        Assert.Equal(first, File.ReadAllText(Path.Combine(options.DataDirectory, "node-id")).Trim());
    }

    [Fact]
    public async Task Http_put_accepts_an_lz4_body_with_its_plain_size_and_get_serves_it_plain()
    {
        await using var node = await NodeFixture.StartAsync();
        var (id, plain) = TestChunks.Compressible(300_000, 31);
        var encoded = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];
        var n = K4os.Compression.LZ4.LZ4Codec.Encode(plain, encoded);
        using var content = new ByteArrayContent(encoded, 0, n);
        content.Headers.Add("X-Chunk-Encoding", "lz4");
        content.Headers.Add("X-Plain-Size", plain.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));

        using var put = await node.Http.PutAsync($"{node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(node.PutToken(id))}", content);
        var got = await node.Http.GetByteArrayAsync($"{node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(node.GetToken(id))}");

        Assert.Equal(201, (int)put.StatusCode);
        Assert.Equal(plain, got);
        Assert.True(node.Store.Engine.TryGetLocation(id, out var location));
        Assert.Equal(n, location.StoredLength);
    }
}
