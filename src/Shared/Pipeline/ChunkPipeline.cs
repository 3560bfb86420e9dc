using System.Buffers;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// Reads a stream once, cuts it into chunks on one thread, and hashes (SHA-256) and compression-decides the
/// chunks on <see cref="PipelineOptions.Parallelism"/> workers, handing them out in input order.
/// </summary>
/// <remarks>
/// Memory is bounded: reads fill pooled blocks of several chunks; chunks point into their block rather than
/// being copied out; at most <see cref="PipelineOptions.MaxInFlight"/> chunks are cut ahead of the consumer
/// (a bounded channel holds the order), and a block returns to the pool once its last chunk is disposed.
/// Cutting stays on one thread because a content-defined cut depends on where the previous chunk ended;
/// hashing is independent per chunk and spreads across cores.
/// </remarks>
public sealed class ChunkPipeline
{
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
    public IAsyncEnumerable<ProcessedChunk> ProcessAsync(Stream input, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        return RunAsync((ordered, work, token) => ProduceAsync(input, ordered, work, token), cancellationToken);
    }

    /// <summary>
    /// Like <see cref="ProcessAsync(Stream, CancellationToken)"/> for bytes already in memory (a buffer or a
    /// memory-mapped file): nothing is copied, and each chunk's <see cref="ProcessedChunk.Plain"/> is a slice of
    /// <paramref name="input"/>, valid as long as the caller keeps <paramref name="input"/> unchanged.
    /// </summary>
    public IAsyncEnumerable<ProcessedChunk> ProcessAsync(ReadOnlyMemory<byte> input, CancellationToken cancellationToken = default) =>
        RunAsync((ordered, work, token) => ProduceAsync(input, ordered, work, token), cancellationToken);

    private async IAsyncEnumerable<ProcessedChunk> RunAsync(
        Func<ChannelWriter<ChunkWork>, ChannelWriter<ChunkWork>, CancellationToken, Task> produceAsync,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = cts.Token;

        var ordered = Channel.CreateBounded<ChunkWork>(new BoundedChannelOptions(_options.MaxInFlight)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var work = Channel.CreateUnbounded<ChunkWork>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = _options.Parallelism == 1 });

        var producer = Task.Run(() => produceAsync(ordered.Writer, work.Writer, token), CancellationToken.None);
        var workers = new Task[_options.Parallelism];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(() => WorkAsync(work.Reader, token), CancellationToken.None);
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

            await producer.ConfigureAwait(false);
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            await Quietly(producer).ConfigureAwait(false);
            foreach (var worker in workers)
            {
                await Quietly(worker).ConfigureAwait(false);
            }

            current?.Discard();
            while (work.Reader.TryRead(out var left))
            {
                left.Abandon();
            }

            while (ordered.Reader.TryRead(out var left))
            {
                left.Discard();
            }
        }
    }

    private async Task ProduceAsync(Stream input, ChannelWriter<ChunkWork> ordered, ChannelWriter<ChunkWork> work, CancellationToken token)
    {
        // Reads go into the block a piece at a time, and a chunk is cut as soon as a whole maximum-size chunk
        // (or the end of the input) is in the block. So the chunker is never asked to scan bytes twice, and
        // bytes are cut and hashed while the copy that brought them in is still in cache.
        PooledBlock? block = null;
        Exception? error = null;
        try
        {
            var size = _blockSize;
            var max = _chunker.MaxChunkSize;
            var readSize = Math.Min(_options.ReadSize, size);
            block = new PooledBlock(size);
            int start = 0, filled = 0;
            var eof = false;
            long offset = 0;
            while (true)
            {
                if (!eof && filled - start < max)
                {
                    if (size - start < max)
                    {
                        // The next chunk might not fit: carry the uncut tail into a fresh block.
                        var next = new PooledBlock(size);
                        var tail = filled - start;
                        block.Array.AsSpan(start, tail).CopyTo(next.Array);
                        block.Release();
                        block = next;
                        start = 0;
                        filled = tail;
                    }

                    var read = await input.ReadAsync(block.Array.AsMemory(filled, Math.Min(readSize, size - filled)), token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        eof = true;
                    }

                    filled += read;
                    continue;
                }

                if (start == filled)
                {
                    break; // end of input, everything cut
                }

                var n = _chunker.FindBoundary(block.Array.AsSpan(start, filled - start), eof);
                if (n <= 0 || n > filled - start)
                {
                    throw new InvalidOperationException($"{_chunker.GetType().Name} returned {n} for {filled - start} bytes (final: {eof}).");
                }

                block.AddReference();
                var item = new ChunkWork(block, block.Array.AsMemory(start, n), offset);
                try
                {
                    await ordered.WriteAsync(item, token).ConfigureAwait(false);
                }
                catch
                {
                    item.Abandon();
                    throw;
                }

                work.TryWrite(item);
                start += n;
                offset += n;
            }
        }
        catch (Exception ex)
        {
            error = ex;
            throw;
        }
        finally
        {
            block?.Release();
            work.TryComplete();
            ordered.TryComplete(error);
        }
    }

    private async Task ProduceAsync(ReadOnlyMemory<byte> input, ChannelWriter<ChunkWork> ordered, ChannelWriter<ChunkWork> work, CancellationToken token)
    {
        Exception? error = null;
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

                var item = new ChunkWork(null, input.Slice(offset, n), offset);
                await ordered.WriteAsync(item, token).ConfigureAwait(false);
                work.TryWrite(item);
                offset += n;
            }
        }
        catch (Exception ex)
        {
            error = ex;
            throw;
        }
        finally
        {
            work.TryComplete();
            ordered.TryComplete(error);
        }
    }

    private async Task WorkAsync(ChannelReader<ChunkWork> reader, CancellationToken token)
    {
        try
        {
            while (await reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    if (token.IsCancellationRequested)
                    {
                        item.Abandon();
                        continue;
                    }

                    Process(item);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private void Process(ChunkWork item)
    {
        byte[]? storedBuffer = null;
        try
        {
            if (item.IsAbandoned)
            {
                throw new InvalidOperationException("A chunk was processed after it was abandoned.");
            }

            var plain = item.Data.Span;
            var id = ChunkId.Compute(plain);

            var encoding = ChunkEncoding.Raw;
            var storedLength = item.Length;
            if (_options.Compress && Lz4ChunkCodec.LooksCompressible(plain))
            {
                storedBuffer = ArrayPool<byte>.Shared.Rent(item.Length);
                encoding = Lz4ChunkCodec.EncodeWhole(plain, storedBuffer, out var written);
                if (encoding == ChunkEncoding.Lz4)
                {
                    storedLength = written;
                }
                else
                {
                    ArrayPool<byte>.Shared.Return(storedBuffer);
                    storedBuffer = null;
                }
            }

            ProcessedChunk chunk;
            if (_options.KeepData)
            {
                var plainMemory = item.Data;
                var storedMemory = storedBuffer is null ? plainMemory : new ReadOnlyMemory<byte>(storedBuffer, 0, storedLength);
                chunk = new ProcessedChunk(item.Offset, id, item.Length, encoding, storedLength, plainMemory, storedMemory, item.TakeBlock(), storedBuffer);
            }
            else
            {
                if (storedBuffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(storedBuffer);
                }

                item.TakeBlock()?.Release();
                chunk = new ProcessedChunk(item.Offset, id, item.Length, encoding, storedLength, default, default, null, null);
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
                ArrayPool<byte>.Shared.Return(storedBuffer);
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
