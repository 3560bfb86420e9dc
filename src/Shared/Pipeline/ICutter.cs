namespace Dropbox.Shared.Pipeline;

/// <summary>Where the pipeline's chunks come from: the next cut of the input, in order, one caller at a time.</summary>
internal interface ICutter : IDisposable
{
    /// <summary>The next chunk of the input, or null at its end.</summary>
    ValueTask<ChunkWork?> NextAsync(CancellationToken token);

    /// <summary>
    /// Work a worker may do while another holds the turn and nothing is ready to hash (reading and cutting ahead, for a
    /// cutter that can); true if it did some, false if there is none. Thread-safe; never throws.
    /// </summary>
    bool TryHelp(CancellationToken token);

    /// <summary>
    /// False while the next chunk needs bytes another worker is still reading (taking the turn now would only wait, while
    /// the worker could hash or help); always true for a cutter that reads for itself.
    /// </summary>
    bool CanCutNow { get; }
}
