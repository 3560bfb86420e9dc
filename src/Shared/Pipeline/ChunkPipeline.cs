using System.Buffers;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// Reads a stream once, cuts it into chunks, and hashes (SHA-256) and compression-decides the chunks on
/// <see cref="PipelineOptions.Parallelism"/> workers, handing them out in input order.
/// </summary>
/// <remarks>
/// Memory is bounded: reads fill pooled blocks of several chunks; chunks point into their block rather than
/// being copied out; at most <see cref="PipelineOptions.MaxInFlight"/> chunks are cut ahead of the consumer
/// (a bounded channel holds the order), and a block returns to the pool once its last chunk is disposed. A file cut in
/// segments also holds up to <see cref="MaxSegmentsAhead"/> + 1 segment blocks, whatever the core count.
/// The true cut is sequential (a content-defined cut depends on where the previous chunk ended), but no thread is
/// dedicated to it: the workers take turns cutting one chunk at a time whenever few are ready, and hash
/// otherwise (<see cref="CuttingTurn"/>). A dedicated cutter thread beside N hashing workers left 5-25% of N
/// cores idle in handoffs; this keeps them busy. A large file is read and cut ahead in segments by whichever
/// workers have nothing to hash, and the true cut follows those cuts (<see cref="SegmentedFileCutter"/>).
/// </remarks>
public sealed class ChunkPipeline
{
    /// <summary>The largest block a segment of a parallel cut may need (a chunker with larger chunks is cut in order).</summary>
    private const long MaxSegmentBlock = 256L * 1024 * 1024;

    /// <summary>
    /// Segments a large file's cut may read past the one it is in, whatever the core count: each holds a block of a
    /// segment plus a maximum chunk (16 MiB by default), and the hashing workers, not more read-ahead, use more cores.
    /// </summary>
    internal const int MaxSegmentsAhead = 2;

    private readonly IChunker _chunker;
    private readonly PipelineOptions _options;
    private readonly int _blockSize;

    /// <summary>Creates a pipeline over a chunker.</summary>
    public ChunkPipeline(IChunker chunker, PipelineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(chunker);
        _chunker = chunker;
        _options = options ?? PipelineOptions.Default;

        // Several chunks per block, so the uncut tail copied into the next block stays a small fraction.
        _blockSize = (int)Math.Min(Array.MaxLength, Math.Max(16L * 1024 * 1024, 4L * chunker.MaxChunkSize));
    }

    /// <summary>
    /// Cuts, hashes and (optionally) compresses <paramref name="input"/>, yielding chunks in input order.
    /// Dispose each chunk when done with it; the pipeline waits for nothing else. Breaking out of the loop
    /// or cancelling stops the work and recycles every buffer the consumer has not taken.
    /// </summary>
    public IAsyncEnumerable<ProcessedChunk> ProcessAsync(Stream input, CancellationToken cancellationToken = default) =>
        ProcessAsync(input, null, cancellationToken);

    /// <summary>
    /// Like <see cref="ProcessAsync(Stream, CancellationToken)"/>, and with <paramref name="known"/> (the chunks of the
    /// same file as last synced) each chunk also gets its <see cref="ProcessedChunk.FastHash"/>, and a chunk whose length
    /// and fast hash are in <paramref name="known"/> takes the id listed there instead of being hashed with SHA-256.
    /// Only for a caller identifying its own file's content: what it sends is hashed again where it is sent.
    /// </summary>
    public IAsyncEnumerable<ProcessedChunk> ProcessAsync(Stream input, KnownChunks? known, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        return RunAsync(CutterFor(input), known, cancellationToken);
    }

    /// <summary>Runs the pipeline over a cutter made by the caller (tests: a cutter with its reads counted or failed).</summary>
    internal IAsyncEnumerable<ProcessedChunk> ProcessAsync(ICutter cutter, CancellationToken cancellationToken = default) =>
        RunAsync(cutter, null, cancellationToken);

    /// <summary>
    /// A large file is cut on all workers in segments (<see cref="SegmentedFileCutter"/>); anything else in order. The
    /// boundaries are the same either way.
    /// </summary>
    internal ICutter CutterFor(Stream input)
    {
        if (input is FileStream { CanSeek: true } file && _options.Parallelism > 1)
        {
            var segmentSize = Math.Max(_options.SegmentSize, _chunker.MaxChunkSize);
            if ((long)segmentSize + _chunker.MaxChunkSize <= MaxSegmentBlock && file.Length - file.Position >= _options.SegmentedCutThreshold)
            {
                return new SegmentedFileCutter(file, _chunker, segmentSize, ahead: Math.Min(_options.Parallelism, MaxSegmentsAhead), _blockSize, _options.ReadSize);
            }
        }

        return new StreamCutter(input, _chunker, _blockSize, _options.ReadSize);
    }

    /// <summary>
    /// Like <see cref="ProcessAsync(Stream, CancellationToken)"/> for bytes already in memory (a buffer or a
    /// memory-mapped file): nothing is copied, and each chunk's <see cref="ProcessedChunk.Plain"/> is a slice of
    /// <paramref name="input"/>, valid as long as the caller keeps <paramref name="input"/> unchanged.
    /// </summary>
    public IAsyncEnumerable<ProcessedChunk> ProcessAsync(ReadOnlyMemory<byte> input, CancellationToken cancellationToken = default) =>
        RunAsync(new MemoryCutter(input, _chunker), null, cancellationToken);

    private async IAsyncEnumerable<ProcessedChunk> RunAsync(ICutter cutter, KnownChunks? known, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = cts.Token;

        var ordered = Channel.CreateBounded<ChunkWork>(new BoundedChannelOptions(_options.MaxInFlight)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var turn = new CuttingTurn(cutter, ordered.Writer, _options.Parallelism);
        var workers = new Task[_options.Parallelism];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(() => WorkAsync(turn, known, token), CancellationToken.None);
        }

        ChunkWork? current = null;
        try
        {
            while (await ordered.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (ordered.Reader.TryRead(out current))
                {
                    // Token-aware: after a cancellation no worker may ever complete this item.
                    var chunk = await current.Completion.Task.WaitAsync(token).ConfigureAwait(false);
                    current = null;
                    yield return chunk;
                }
            }
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            foreach (var worker in workers)
            {
                await Quietly(worker).ConfigureAwait(false);
            }

            turn.Dispose();
            current?.Discard();
            while (ordered.Reader.TryRead(out var left))
            {
                left.Discard();
            }
        }
    }

    /// <summary>
    /// One worker: take the turn to cut the next chunk (cuts depend on where the previous chunk ended, so one
    /// worker cuts at a time, and queues the chunk in input order while it holds the turn), then hash and
    /// compress that chunk outside the turn while the next worker cuts. No thread hands work to another: on N
    /// cores N workers keep N cores busy.
    /// </summary>
    private async Task WorkAsync(CuttingTurn turn, KnownChunks? known, CancellationToken token)
    {
        try
        {
            while (await turn.NextAsync(token).ConfigureAwait(false) is { } item)
            {
                if (token.IsCancellationRequested)
                {
                    item.Abandon();
                    continue;
                }

                Process(item, known);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Like <see cref="ProcessAsync(ReadOnlyMemory{byte}, CancellationToken)"/>, on the calling thread, with no workers
    /// or channel: for small inputs (a small file read whole), where starting the workers costs more than cutting and
    /// hashing the bytes. The same chunks, ids and encodings (boundaries depend only on the bytes); with
    /// <see cref="PipelineOptions.KeepData"/> each chunk's <see cref="ProcessedChunk.Plain"/> is a slice of
    /// <paramref name="input"/>. Dispose each chunk.
    /// </summary>
    public List<ProcessedChunk> ProcessInline(ReadOnlyMemory<byte> input)
    {
        var chunks = new List<ProcessedChunk>();
        try
        {
            var offset = 0;
            while (offset < input.Length)
            {
                var rest = input.Span[offset..];
                var n = _chunker.FindBoundary(rest, isFinalBlock: true);
                if (n <= 0 || n > rest.Length)
                {
                    throw new InvalidOperationException($"{_chunker.GetType().Name} returned {n} for the final {rest.Length} bytes.");
                }

                var plain = input.Slice(offset, n);
                var id = ChunkId.Compute(plain.Span);
                var encoding = Encode(plain.Span, out var storedBuffer, out var storedLength);
                if (!_options.KeepData && storedBuffer is not null)
                {
                    PipelineBuffers.Pool.Return(storedBuffer);
                    storedBuffer = null;
                }

                var stored = storedBuffer is null ? plain : new ReadOnlyMemory<byte>(storedBuffer, 0, storedLength);
                chunks.Add(_options.KeepData
                    ? new ProcessedChunk(offset, id, n, encoding, storedLength, plain, stored, null, storedBuffer)
                    : new ProcessedChunk(offset, id, n, encoding, storedLength, default, default, null, null));
                offset += n;
            }

            return chunks;
        }
        catch
        {
            foreach (var c in chunks)
            {
                c.Dispose();
            }

            throw;
        }
    }

    /// <summary>Raw, or LZ4 (in a pooled <paramref name="storedBuffer"/>) where it looks worth trying and saves enough.</summary>
    private ChunkEncoding Encode(ReadOnlySpan<byte> plain, out byte[]? storedBuffer, out int storedLength)
    {
        storedBuffer = null;
        storedLength = plain.Length;
        if (!_options.Compress || !Lz4ChunkCodec.LooksCompressible(plain))
        {
            return ChunkEncoding.Raw;
        }

        var buffer = PipelineBuffers.Pool.Rent(plain.Length);
        if (Lz4ChunkCodec.EncodeWhole(plain, buffer, out var written) == ChunkEncoding.Lz4)
        {
            storedBuffer = buffer;
            storedLength = written;
            return ChunkEncoding.Lz4;
        }

        PipelineBuffers.Pool.Return(buffer);
        return ChunkEncoding.Raw;
    }

    private void Process(ChunkWork item, KnownChunks? known)
    {
        byte[]? storedBuffer = null;
        try
        {
            if (item.IsAbandoned)
            {
                throw new InvalidOperationException("A chunk was processed after it was abandoned.");
            }

            var plain = item.Data.Span;
            UInt128? fast = null;
            ChunkId id;
            if (known is null)
            {
                id = ChunkId.Compute(plain);
            }
            else
            {
                var f = known.Hash.Compute(plain);
                fast = f;
                if (!known.TryGetId(plain.Length, f, out id))
                {
                    id = ChunkId.Compute(plain);
                }
            }

            var encoding = Encode(plain, out storedBuffer, out var storedLength);

            ProcessedChunk chunk;
            if (_options.KeepData)
            {
                var plainMemory = item.Data;
                var storedMemory = storedBuffer is null ? plainMemory : new ReadOnlyMemory<byte>(storedBuffer, 0, storedLength);
                chunk = new ProcessedChunk(item.Offset, id, item.Length, encoding, storedLength, plainMemory, storedMemory, item.TakeBlock(), storedBuffer, fast);
            }
            else
            {
                if (storedBuffer is not null)
                {
                    PipelineBuffers.Pool.Return(storedBuffer);
                }

                item.TakeBlock()?.Release();
                chunk = new ProcessedChunk(item.Offset, id, item.Length, encoding, storedLength, default, default, null, null, fast);
            }

            storedBuffer = null;
            if (!item.Completion.TrySetResult(chunk))
            {
                chunk.Dispose();
            }
        }
        catch (Exception ex)
        {
            if (storedBuffer is not null)
            {
                PipelineBuffers.Pool.Return(storedBuffer);
            }

            item.TakeBlock()?.Release();
            item.Completion.TrySetException(ex);
        }
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch
        {
            // Already surfaced to the consumer (through the channel or the chunk), or a cancellation.
        }
    }
}
