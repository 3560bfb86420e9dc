using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>
/// Review probe (stop 55, s55-direct: direct reads on by default): a chunk served over HTTP to a slow reader, from a
/// pooled direct-read buffer, while other HTTP and gRPC reads of large chunks rent and return that pool's buffers, and
/// a reader that goes away mid-body; every body must be its chunk's bytes. A real node (Kestrel on 127.0.0.1).
/// </summary>
public sealed class DirectReadServingProbeTests : IAsyncLifetime
{
    private NodeFixture _node = null!;

    public async Task InitializeAsync() => _node = await NodeFixture.StartAsync();

    public async Task DisposeAsync() => await _node.DisposeAsync();

    private string Url(ChunkId id) => $"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.GetToken(id))}";

    [Fact]
    public async Task Probe_a_slow_http_reader_gets_its_chunk_s_bytes_while_other_reads_reuse_the_direct_read_pool()
    {
        var chunks = Enumerable.Range(0, 8).Select(i => TestChunks.Random(i < 3 ? StoreLimits.DefaultMaxChunkBytes - i : 300_000 + (i * 77_777), 11_000 + i)).ToList();
        foreach (var chunk in chunks)
        {
            var put = await _node.PutRawAsync(chunk);
            Assert.Single(put.Results);
        }

        var errors = new ConcurrentQueue<string>();
        var slowDone = false;

        async Task SlowAsync((ChunkId Id, byte[] Bytes) chunk, bool abandon)
        {
            using var response = await _node.Http.GetAsync(Url(chunk.Id), HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            await using var body = await response.Content.ReadAsStreamAsync();
            var got = new MemoryStream();
            var piece = new byte[16 * 1024];
            int n;
            while ((n = await body.ReadAsync(piece)) > 0)
            {
                got.Write(piece, 0, n);
                await Task.Delay(3);
                if (abandon && got.Length > chunk.Bytes.Length / 3)
                {
                    return; // goes away mid-body
                }
            }

            if (!got.ToArray().AsSpan().SequenceEqual(chunk.Bytes))
            {
                errors.Enqueue($"slow reader of {chunk.Id.ToShortString()} got {got.Length} bytes that are not its chunk");
            }
        }

        var slow = Task.WhenAll(SlowAsync(chunks[0], abandon: false), SlowAsync(chunks[1], abandon: true), SlowAsync(chunks[2], abandon: false));
        var fast = Enumerable.Range(0, 6).Select(r => Task.Run(async () =>
        {
            var i = r;
            while (!Volatile.Read(ref slowDone))
            {
                var (id, bytes) = chunks[3 + (i++ % 5)];
                if (r % 2 == 0)
                {
                    var got = await _node.Http.GetByteArrayAsync(Url(id));
                    if (!got.AsSpan().SequenceEqual(bytes))
                    {
                        errors.Enqueue($"http reader got wrong bytes for {id.ToShortString()}");
                    }
                }
                else
                {
                    var got = await _node.GetAsync([id, chunks[i % 3].Id]);
                    if (got.Count != 2 || !got[0].Data.AsSpan().SequenceEqual(bytes) || !got[1].Data.AsSpan().SequenceEqual(chunks[i % 3].Bytes))
                    {
                        errors.Enqueue($"grpc reader got wrong bytes for {id.ToShortString()}");
                    }
                }
            }
        })).ToList();

        await slow.WaitAsync(TimeSpan.FromSeconds(120));
        Volatile.Write(ref slowDone, true);
        await Task.WhenAll(fast).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Empty(errors.Take(3));
    }
}
