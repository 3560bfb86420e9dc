namespace Dropbox.Shared.Pipeline;

/// <summary>Where the pipeline's chunks come from: the next cut of the input, in order, one caller at a time.</summary>
internal interface ICutter : IDisposable
{
    /// <summary>The next chunk of the input, or null at its end.</summary>
    ValueTask<ChunkWork?> NextAsync(CancellationToken token);
}
