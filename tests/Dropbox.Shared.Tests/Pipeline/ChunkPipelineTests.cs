using System.Text;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.Shared.Pipeline;
using Dropbox.Shared.Tests.Chunking;

namespace Dropbox.Shared.Tests.Pipeline;

public sealed class ChunkPipelineTests
{
    private const int MiB = TestData.MiB;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static async Task<List<(long Offset, ChunkId Id, int Length, ChunkEncoding Encoding, byte[] Plain)>> RunAsync(
        ChunkPipeline pipeline, Stream input, CancellationToken token = default)
    {
        var result = new List<(long, ChunkId, int, ChunkEncoding, byte[])>();
        await foreach (var chunk in pipeline.ProcessAsync(input, token))
        {
            using (chunk)
            {
                result.Add((chunk.Offset, chunk.Id, chunk.PlainLength, chunk.Encoding, chunk.Plain.ToArray()));
            }
        }

        return result;
    }

    [Theory]
    [InlineData(1 << 20, 1)]
    [InlineData(4096, 2)]
    [InlineData(777_777, 4)]
    public async Task Pipeline_matches_direct_chunking_whatever_the_read_sizes(int maxRead, int parallelism)
    {
        var data = TestData.Random(24 * MiB, seed: 11);
        var lengths = ChunkingHelpers.Cut(new FastCdcChunker(), data);
        var ids = ChunkingHelpers.Ids(data, lengths);
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = parallelism, ReadSize = 3 * MiB });

        var chunks = await RunAsync(pipeline, new ShortReadStream(data, maxRead, seed: maxRead)).WaitAsync(Timeout);

        Assert.Equal(lengths, chunks.Select(c => c.Length));
        Assert.Equal(ids, chunks.Select(c => c.Id));
        long offset = 0;
        foreach (var c in chunks)
        {
            Assert.Equal(offset, c.Offset);
            Assert.Equal(data.AsSpan((int)offset, c.Length).ToArray(), c.Plain);
            offset += c.Length;
        }

        Assert.Equal(data.Length, offset);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(3000, true)]
    [InlineData(3000, false)]
    [InlineData(5 * 1024 * 1024, true)]
    [InlineData(5 * 1024 * 1024, false)]
    public async Task Inline_processing_gives_the_same_chunks_encodings_and_bytes_as_the_workers(int size, bool keepData)
    {
        // Half text (compresses: LZ4), half random (stays raw), so both encodings and several chunks are covered.
        var data = TestData.Text(size / 2).Concat(TestData.Random(size - (size / 2), seed: 23)).ToArray();
        var options = new PipelineOptions { Parallelism = 2, KeepData = keepData, Compress = true };
        var expected = new List<(long, ChunkRef, byte[], byte[])>();
        await foreach (var chunk in new ChunkPipeline(new FastCdcChunker(), options).ProcessAsync(new MemoryStream(data), new CancellationTokenSource(Timeout).Token))
        {
            using (chunk)
            {
                expected.Add((chunk.Offset, chunk.Ref, chunk.Plain.ToArray(), chunk.Stored.ToArray()));
            }
        }

        var inline = new ChunkPipeline(new FastCdcChunker(), options).ProcessInline(data);
        var got = inline.Select(c => (c.Offset, c.Ref, c.Plain.ToArray(), c.Stored.ToArray())).ToList();
        inline.ForEach(c => c.Dispose());

        Assert.Equal(expected.Count, got.Count);
        for (var i = 0; i < got.Count; i++)
        {
            Assert.Equal(expected[i].Item1, got[i].Offset);
            Assert.Equal(expected[i].Item2, got[i].Ref);
            Assert.Equal(expected[i].Item3, got[i].Item3);
            Assert.Equal(expected[i].Item4, got[i].Item4);
        }

        if (size > 1024 * 1024 && keepData)
        {
            Assert.Contains(got, c => c.Ref.Encoding == ChunkEncoding.Lz4);
        }
    }

    [Fact]
    public async Task In_memory_input_gives_the_same_chunks_as_a_stream_without_copying()
    {
        var data = TestData.Text(3 * MiB).Concat(TestData.Random(9 * MiB, seed: 19)).ToArray();
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = 2 });

        var fromStream = await RunAsync(pipeline, new MemoryStream(data)).WaitAsync(Timeout);
        var fromMemory = new List<(long Offset, ChunkId Id, ChunkEncoding Encoding)>();
        await foreach (var chunk in pipeline.ProcessAsync(data.AsMemory()))
        {
            using (chunk)
            {
                Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(chunk.Plain, out var segment));
                Assert.Same(data, segment.Array);
                Assert.Equal(chunk.Offset, segment.Offset);
                fromMemory.Add((chunk.Offset, chunk.Id, chunk.Encoding));
            }
        }

        Assert.Equal(fromStream.Select(c => (c.Offset, c.Id, c.Encoding)), fromMemory);
        Assert.Contains(fromMemory, c => c.Encoding == ChunkEncoding.Lz4);
        Assert.Contains(fromMemory, c => c.Encoding == ChunkEncoding.Raw);
    }

    [Fact]
    public async Task Known_sha256_vectors_come_out_of_the_pipeline()
    {
        var pipeline = new ChunkPipeline(new FastCdcChunker());

        var empty = await RunAsync(pipeline, new MemoryStream([])).WaitAsync(Timeout);
        var abc = await RunAsync(pipeline, new MemoryStream("abc"u8.ToArray())).WaitAsync(Timeout);
        var million = await RunAsync(pipeline, new MemoryStream(Encoding.ASCII.GetBytes(new string('a', 1_000_000)))).WaitAsync(Timeout);

        Assert.Empty(empty); // an empty file has no chunks
        Assert.Equal(ChunkId.Parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), Assert.Single(abc).Id);
        Assert.Equal(ChunkId.Parse("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), Assert.Single(million).Id);
    }

    [Fact]
    public async Task Text_is_compressed_and_its_stored_bytes_decode_to_the_plain_bytes()
    {
        var data = TestData.Text(6 * MiB);
        var pipeline = new ChunkPipeline(new FastCdcChunker());
        var checkedChunks = 0;

        await foreach (var chunk in pipeline.ProcessAsync(new MemoryStream(data)))
        {
            using (chunk)
            {
                Assert.Equal(ChunkEncoding.Lz4, chunk.Encoding);
                Assert.Equal(chunk.Stored.Length, chunk.Ref.StoredSize);
                Assert.True(chunk.Ref.StoredSize < chunk.PlainLength - (chunk.PlainLength / 16));
                Assert.Equal(chunk.Plain.ToArray(), Lz4ChunkCodec.Decode(chunk.Encoding, chunk.Stored.Span, chunk.PlainLength));
                checkedChunks++;
            }
        }

        Assert.True(checkedChunks > 1);
    }

    [Fact]
    public async Task Random_data_stays_raw_and_stored_is_plain()
    {
        var data = TestData.Random(8 * MiB, seed: 12);
        var pipeline = new ChunkPipeline(new FastCdcChunker());

        await foreach (var chunk in pipeline.ProcessAsync(new MemoryStream(data)))
        {
            using (chunk)
            {
                Assert.Equal(ChunkEncoding.Raw, chunk.Encoding);
                Assert.Equal(ChunkRef.Raw(chunk.Id, chunk.PlainLength), chunk.Ref);
                Assert.True(chunk.Stored.Span == chunk.Plain.Span);
            }
        }
    }

    [Fact]
    public async Task Without_keep_data_only_references_come_out()
    {
        var data = TestData.Text(3 * MiB);
        var pipeline = new ChunkPipeline(new FixedSizeChunker(MiB), new PipelineOptions { KeepData = false });

        var chunks = new List<ChunkRef>();
        await foreach (var chunk in pipeline.ProcessAsync(new MemoryStream(data)))
        {
            using (chunk)
            {
                Assert.True(chunk.Plain.IsEmpty);
                Assert.True(chunk.Stored.IsEmpty);
                chunks.Add(chunk.Ref);
            }
        }

        Assert.Equal(3, chunks.Count);
        Assert.All(chunks, r => Assert.Equal(ChunkEncoding.Lz4, r.Encoding));
        Assert.Equal(ChunkId.Compute(data.AsSpan(0, MiB)), chunks[0].Id);
    }

    [Fact]
    public async Task Without_compression_every_chunk_is_raw()
    {
        var data = TestData.Text(2 * MiB);
        var pipeline = new ChunkPipeline(new FixedSizeChunker(MiB), new PipelineOptions { Compress = false });

        var chunks = await RunAsync(pipeline, new MemoryStream(data)).WaitAsync(Timeout);

        Assert.All(chunks, c => Assert.Equal(ChunkEncoding.Raw, c.Encoding));
    }

    [Fact]
    public async Task Read_ahead_is_bounded_while_the_consumer_is_slow()
    {
        var data = TestData.Random(64 * MiB, seed: 13);
        var options = new PipelineOptions { Parallelism = 2, MaxInFlight = 3 };
        var chunker = new FastCdcChunker();
        var stream = new ShortReadStream(data, 1 << 20);
        var pipeline = new ChunkPipeline(chunker, options);
        long maxAhead = 0;

        await foreach (var chunk in pipeline.ProcessAsync(stream).WithCancellation(default))
        {
            using (chunk)
            {
                maxAhead = Math.Max(maxAhead, stream.BytesRead - chunk.Offset);
            }
        }

        // In flight: MaxInFlight chunks queued, one being written, one held here, plus one read block of
        // 16 MiB. Anything near 64 MiB would mean the reader raced ahead unbounded.
        var bound = ((options.MaxInFlight + 2) * (long)chunker.MaxChunkSize) + (16 * MiB);
        Assert.InRange(maxAhead, 1, bound);
    }

    [Fact]
    public async Task Breaking_out_early_stops_the_pipeline()
    {
        // Zeros have no cut points: every chunk is 4 MiB, so the reader can be at most a few blocks ahead.
        var data = new byte[96 * MiB];
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { MaxInFlight = 2 });
        var stream = new ShortReadStream(data, 1 << 20);
        var taken = 0;

        async Task ConsumeTwoAsync()
        {
            await foreach (var chunk in pipeline.ProcessAsync(stream))
            {
                chunk.Dispose();
                if (++taken == 2)
                {
                    break;
                }
            }
        }

        await ConsumeTwoAsync().WaitAsync(Timeout);

        Assert.Equal(2, taken);
        Assert.True(stream.BytesRead <= 48 * MiB, $"the pipeline read {stream.BytesRead} bytes: it kept reading after the consumer left");
    }

    [Fact]
    public async Task Cancellation_surfaces_as_operation_canceled()
    {
        var data = TestData.Random(32 * MiB, seed: 15);
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { MaxInFlight = 2 });
        using var cts = new CancellationTokenSource();

        async Task ConsumeAsync()
        {
            await foreach (var chunk in pipeline.ProcessAsync(new MemoryStream(data), cts.Token))
            {
                chunk.Dispose();
                await cts.CancelAsync();
            }
        }

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ConsumeAsync().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Cancelling_at_any_moment_ends_the_enumeration()
    {
        var data = TestData.Random(32 * MiB, seed: 18);
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = 1, MaxInFlight = 2 });
        var cancelled = 0;

        for (var i = 0; i < 12; i++)
        {
            using var cts = new CancellationTokenSource();
            cts.CancelAfter(i * 3); // lands at different points: before start, mid-hash, between chunks

            async Task ConsumeAsync()
            {
                await foreach (var chunk in pipeline.ProcessAsync(new MemoryStream(data), cts.Token))
                {
                    chunk.Dispose();
                }
            }

            try
            {
                await ConsumeAsync().WaitAsync(Timeout);
            }
            catch (OperationCanceledException)
            {
                cancelled++;
            }
        }

        Assert.True(cancelled > 0);
    }

    [Fact]
    public async Task A_failing_stream_surfaces_its_error_after_the_chunks_before_it()
    {
        var data = TestData.Random(16 * MiB, seed: 16);
        var pipeline = new ChunkPipeline(new FixedSizeChunker(MiB), new PipelineOptions { ReadSize = MiB });
        var stream = new ShortReadStream(data, MiB, failAt: 20 * MiB);
        var big = TestData.Random(40 * MiB, seed: 17);
        var failing = new ShortReadStream(big, MiB, failAt: 20 * MiB);

        var ok = await RunAsync(pipeline, stream).WaitAsync(Timeout);
        var ex = await Assert.ThrowsAsync<IOException>(() => RunAsync(pipeline, failing).WaitAsync(Timeout));

        Assert.Equal(16, ok.Count);
        Assert.Equal("simulated read failure", ex.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_file_is_read_synchronously_by_the_cutting_worker_and_cuts_like_its_bytes(int parallelism)
    {
        // An asynchronous file read on Linux is a synchronous one handed to another pool thread: a hand-off per read.
        var data = TestData.Random((21 * MiB) + 12_345, seed: 23);
        using var temp = new TempFolder();
        var path = Path.Combine(temp.Path, "big.bin");
        await File.WriteAllBytesAsync(path, data);
        var lengths = ChunkingHelpers.Cut(new FastCdcChunker(), data);
        var ids = ChunkingHelpers.Ids(data, lengths);
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = parallelism });

        await using var file = new SyncOnlyFileStream(path);
        var chunks = await RunAsync(pipeline, file).WaitAsync(Timeout);

        Assert.Equal(lengths, chunks.Select(c => c.Length));
        Assert.Equal(ids, chunks.Select(c => c.Id));
        Assert.Equal(data, chunks.SelectMany(c => c.Plain).ToArray());
        Assert.True(file.Reads >= data.Length / MiB, $"{file.Reads} synchronous reads");
    }

    [Fact]
    public async Task A_small_file_is_read_into_a_block_its_own_size_not_a_full_one()
    {
        // Renting a 16 MiB block per 300-byte file made a 100,000-file upload allocate gigabytes.
        var data = TestData.Random(300, seed: 21);
        var stream = new LengthStream(data, claimedLength: data.Length);
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = 2, ReadSize = 4 * MiB });

        var chunks = await RunAsync(pipeline, stream).WaitAsync(Timeout);

        Assert.Equal(data, Assert.Single(chunks).Plain);
        Assert.InRange(stream.LargestRead, data.Length + 1, 64 * 1024);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(5 * MiB)]
    public async Task A_stream_longer_than_its_length_claimed_still_cuts_every_byte(int claimed)
    {
        // A file that grows while it is read: the first block is sized to the old length, the rest must follow.
        var data = TestData.Random(21 * MiB, seed: 22);
        var lengths = ChunkingHelpers.Cut(new FastCdcChunker(), data);
        var pipeline = new ChunkPipeline(new FastCdcChunker(), new PipelineOptions { Parallelism = 2, ReadSize = MiB });

        var chunks = await RunAsync(pipeline, new LengthStream(data, claimed)).WaitAsync(Timeout);

        Assert.Equal(lengths, chunks.Select(c => c.Length));
        Assert.Equal(ChunkingHelpers.Ids(data, lengths), chunks.Select(c => c.Id));
    }

    /// <summary>A seekable stream over a buffer that reports the length it is told to and records the largest read asked of it.</summary>
    private sealed class LengthStream(byte[] data, long claimedLength) : Stream
    {
        private int _position;

        public int LargestRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => claimedLength;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            LargestRead = Math.Max(LargestRead, buffer.Length);
            var n = Math.Min(buffer.Length, data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
