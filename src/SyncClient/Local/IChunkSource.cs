namespace Dropbox.SyncClient.Local;

/// <summary>Cuts a stream into chunks, in file order, streaming (never the whole file in memory).</summary>
internal interface IChunkSource
{
    /// <summary>The chunks of <paramref name="input"/>; with <paramref name="keepData"/> false only references are produced.</summary>
    IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, CancellationToken ct);
}
