using Dropbox.Shared.Compression;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

public sealed class StorageNodeHostTests
{
    [Fact]
    public async Task Without_a_node_id_option_the_node_generates_one_once_and_keeps_it_across_restarts()
    {
        using var dir = new TempFolder();
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

    [Fact]
    public async Task The_scheduled_scrub_finds_a_flipped_byte_on_its_own_and_quarantines_that_chunk()
    {
        await using var node = await NodeFixture.StartAsync(o => o with { ScrubInterval = TimeSpan.FromMilliseconds(200) });
        var chunks = Enumerable.Range(0, 4).Select(i => TestChunks.Random(20_000, 700 + i)).ToList();
        foreach (var (id, bytes) in chunks)
        {
            await node.Store.PutAsync(id, Dropbox.Shared.Chunks.ChunkEncoding.Raw, bytes.Length, bytes, "ns", CancellationToken.None);
        }

        Assert.True(node.Store.Engine.TryGetLocation(chunks[1].Id, out var location));
        var segment = Directory.GetFiles(Path.Combine(node.Options.DataDirectory, "segments"), "*.fseg").Single(f => new FileInfo(f).Length > 0);
        using (var stream = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            stream.Position = location.Offset + Dropbox.StorageNode.Engine.SegmentRecord.HeaderSize + 1234;
            var b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x80));
        }

        // Nobody asks for a scrub: the node's own schedule must find it.
        var scrubs = node.Services.GetRequiredService<Dropbox.StorageNode.Cluster.ScrubService>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!node.Store.Engine.IsQuarantined(chunks[1].Id) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(node.Store.Engine.IsQuarantined(chunks[1].Id), $"not quarantined after {scrubs.Completed} scheduled scrubs");
        Assert.False(node.Store.Engine.IsQuarantined(chunks[0].Id));
        Assert.True(node.Store.Engine.Contains(chunks[2].Id));
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    [Fact]
    public async Task A_data_folder_left_readable_by_others_is_made_owner_only_and_every_file_in_it_0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var dir = new TempFolder();
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
        var loose = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        Directory.CreateDirectory(options.DataDirectory);
        File.SetUnixFileMode(options.DataDirectory, loose);
        var old = Path.Combine(options.DataDirectory, "left-by-an-old-version");
        File.WriteAllText(old, "x");
        File.SetUnixFileMode(old, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await using (var app = StorageNodeHost.Build(options))
        {
            var store = app.Services.GetRequiredService<ChunkStore>();
            var (id, bytes) = TestChunks.Random(5_000, 3);
            await store.Engine.AppendAsync(id, Dropbox.Shared.Chunks.ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            await store.Engine.CheckpointAsync(CancellationToken.None);
        }

        const UnixFileMode folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(folder, File.GetUnixFileMode(options.DataDirectory));
        Assert.Equal(file, File.GetUnixFileMode(old));
        Assert.Equal(file, File.GetUnixFileMode(Path.Combine(options.DataDirectory, "node-id")));
        foreach (var sub in new[] { "segments", "index", "quarantine", "outbox" })
        {
            Assert.Equal(folder, File.GetUnixFileMode(Path.Combine(options.DataDirectory, sub)));
        }

        var ours = Directory.GetFiles(Path.Combine(options.DataDirectory, "segments"))
            .Append(Path.Combine(options.DataDirectory, "index", "positions"))
            .Append(Path.Combine(options.DataDirectory, "outbox", "events.log"))
            .ToList();
        Assert.NotEmpty(ours);
        Assert.All(ours, f => Assert.Equal(file, File.GetUnixFileMode(f)));
    }
}
