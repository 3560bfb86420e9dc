using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// The pipeline's workers share the cutter: a free worker cuts the next chunk if few are ready and nobody else is
/// cutting, and otherwise hashes a chunk that is ready. Cutting happens one chunk at a time under a turn (a cut
/// depends on where the previous chunk ended), and each chunk is queued for the consumer in input order while
/// the turn is held. No thread only hands work to others, so on N cores N workers keep N cores busy and neither
/// cutting nor hashing waits for the other. The first error ends the input for everyone and reaches the consumer
/// after the chunks before it.
/// </summary>
internal sealed class CuttingTurn : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ICutter _cutter;
    private readonly ChannelWriter<ChunkWork> _ordered;
    private readonly ConcurrentQueue<ChunkWork> _ready = new();
    private readonly int _lookahead;
    private volatile bool _finished;

    public CuttingTurn(ICutter cutter, ChannelWriter<ChunkWork> ordered, int workers)
    {
        _cutter = cutter;
        _ordered = ordered;
        _lookahead = workers;
    }

    /// <summary>The next chunk to hash, already queued for the consumer; null once the input is done (or failed).</summary>
    public async ValueTask<ChunkWork?> NextAsync(CancellationToken token)
    {
        while (true)
        {
            token.ThrowIfCancellationRequested();
            if (!_finished && _ready.Count < _lookahead && _cutter.CanCutNow && _gate.Wait(0))
            {
                try
                {
                    await CutOneAsync(token).ConfigureAwait(false);
                }
                finally
                {
                    _gate.Release();
                }

                continue;
            }

            if (_ready.TryDequeue(out var item))
            {
                return item;
            }

            if (_finished)
            {
                // Nothing is queued after the input ends, so an empty queue now stays empty.
                return _ready.TryDequeue(out item) ? item : null;
            }

            // Another worker is cutting, or the next chunk's bytes are still being read, and nothing is ready: read ahead
            // (a cutter that reads in parallel), or wait for the turn (and in it for the bytes).
            if (_cutter.TryHelp(token))
            {
                continue;
            }

            await _gate.WaitAsync(token).ConfigureAwait(false);
            try
            {
                if (_ready.IsEmpty)
                {
                    await CutOneAsync(token).ConfigureAwait(false);
                }
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>Cuts one chunk into the ready queue (and the consumer's ordered queue). Holder of the turn only.</summary>
    private async ValueTask CutOneAsync(CancellationToken token)
    {
        if (_finished)
        {
            return;
        }

        ChunkWork? item;
        try
        {
            item = await _cutter.NextAsync(token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _finished = true;
            _ordered.TryComplete(ex);
            return;
        }

        if (item is null)
        {
            _finished = true;
            _ordered.TryComplete();
            return;
        }

        try
        {
            await _ordered.WriteAsync(item, token).ConfigureAwait(false);
        }
        catch
        {
            item.Abandon();
            throw;
        }

        _ready.Enqueue(item);
    }

    public void Dispose()
    {
        _cutter.Dispose();
        _gate.Dispose();
    }
}
