using System.Runtime.CompilerServices;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Pipeline;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The shared <see cref="ChunkPipeline"/>: cutting on one thread, hashing and LZ4 decisions across cores, in
/// order, with bounded memory. The default chunk source of the client.
/// </summary>
internal sealed class PipelineChunkSource : IChunkSource
{
    private readonly IChunker _chunker;
    private readonly PipelineOptions _hashOnly;
    private readonly PipelineOptions _withData;
    private readonly ChunkPipeline _inline;

    public PipelineChunkSource(IChunker? chunker = null, bool compress = true, int? parallelism = null)
    {
        _chunker = chunker ?? new FastCdcChunker(ChunkerOptions.Default);
        var workers = Math.Max(1, parallelism ?? Environment.ProcessorCount);
        _hashOnly = new PipelineOptions { Parallelism = workers, KeepData = false, Compress = false };
        _withData = new PipelineOptions { Parallelism = workers, KeepData = true, Compress = compress };
        _inline = new ChunkPipeline(_chunker, _withData);
    }

    /// <summary>On the calling thread: for a file of a few KiB, starting the pipeline's workers cost more than the work.</summary>
    public ValueTask<List<SourceChunk>> CutWholeAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var chunks = _inline.ProcessInline(data);
        var result = new List<SourceChunk>(chunks.Count);
        foreach (var chunk in chunks)
        {
            result.Add(new SourceChunk(chunk.Offset, chunk.Ref, chunk.Plain, chunk.Stored, chunk));
        }

        return ValueTask.FromResult(result);
    }

    public IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, CancellationToken ct) => ReadAsync(input, keepData, null, ct);

    public async IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, KnownChunks? known, [EnumeratorCancellation] CancellationToken ct)
    {
        var pipeline = new ChunkPipeline(_chunker, keepData ? _withData : _hashOnly);
        await foreach (var chunk in pipeline.ProcessAsync(input, known, ct).ConfigureAwait(false))
        {
            if (keepData)
            {
                yield return new SourceChunk(chunk.Offset, chunk.Ref, chunk.Plain, chunk.Stored, chunk, chunk.FastHash);
            }
            else
            {
                var reference = chunk.Ref;
                var offset = chunk.Offset;
                var fast = chunk.FastHash;
                chunk.Dispose();
                yield return new SourceChunk(offset, reference, default, default, null, fast);
            }
        }
    }
}
