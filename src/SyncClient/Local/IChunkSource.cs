using Dropbox.Shared.Pipeline;

namespace Dropbox.SyncClient.Local;

/// <summary>Cuts a stream into chunks, in file order, streaming (never the whole file in memory).</summary>
internal interface IChunkSource
{
    /// <summary>The chunks of <paramref name="input"/>; with <paramref name="keepData"/> false only references are produced.</summary>
    IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, CancellationToken ct);

    /// <summary>
    /// As <see cref="ReadAsync(Stream, bool, CancellationToken)"/>; a source that can (the pipeline) also gives each chunk's
    /// <see cref="SourceChunk.FastHash"/> and identifies the chunks listed in <paramref name="known"/> by their fast hash
    /// (<see cref="KnownChunks"/>). The default ignores <paramref name="known"/> and gives no fast hashes.
    /// </summary>
    IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, KnownChunks? known, CancellationToken ct) => ReadAsync(input, keepData, ct);

    /// <summary>
    /// The chunks of a small file already read whole into <paramref name="data"/>, with their bytes (slices of
    /// <paramref name="data"/> or pooled LZ4 output; dispose them): the same chunks <see cref="ReadAsync"/> gives.
    /// The default goes through <see cref="ReadAsync"/>; a source may do it with less machinery per file.
    /// </summary>
    async ValueTask<List<SourceChunk>> CutWholeAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var chunks = new List<SourceChunk>();
        try
        {
            using var stream = new MemoryStream(data.ToArray(), writable: false);
            await foreach (var chunk in ReadAsync(stream, keepData: true, ct).ConfigureAwait(false))
            {
                chunks.Add(chunk);
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
}
