using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The state of ids written to a segment but not yet published to the index (null location = deleted), and the op
/// that wrote each: the writer decides on it (a put of a chunk another in-flight op just wrote is skipped), and a
/// failed op gives back the state it hid. Used by the writer and barrier stages of <see cref="ChunkEngine"/>.
/// </summary>
internal sealed class UnappliedWrites
{
    private readonly Dictionary<ChunkId, (ChunkLocation? Location, long Sequence, WriteOp Writer)> _pending = new();
    private long _sequence;

    /// <summary>The chunk's state as the next write sees it: pending (with the op that wrote it), else the index's.</summary>
    public (ChunkLocation? Location, WriteOp? Writer) StateOf(ChunkId id, ChunkIndex index)
    {
        lock (_pending)
        {
            if (_pending.TryGetValue(id, out var pending))
            {
                return (pending.Location, pending.Writer);
            }

            return (index.TryGet(id, out var indexed) ? indexed : null, null);
        }
    }

    /// <summary>Notes that <paramref name="op"/> was written (its state now <paramref name="location"/>) and numbers it.</summary>
    public void Written(WriteOp op, ChunkLocation? location)
    {
        op.Sequence = ++_sequence;
        lock (_pending)
        {
            // The state this op hides, restored if its batch fails (an earlier batch's, still in flight).
            op.HiddenPending = _pending.TryGetValue(op.Id, out var hidden) ? hidden.Writer : null;
            _pending[op.Id] = (location, op.Sequence, op);
        }
    }

    /// <summary>
    /// Retires the ops' pending-state entries once they are published or failed. A failed op's entry gives back the
    /// state it hid if that earlier op is still in flight (the index does not show it yet); newest first, so a batch
    /// that wrote one id twice unwinds to the state before it.
    /// </summary>
    public void Retire(List<WriteOp> ops)
    {
        lock (_pending)
        {
            for (var i = ops.Count - 1; i >= 0; i--)
            {
                var op = ops[i];
                if (op.Skip || op.Sequence == 0 || op.Retired)
                {
                    continue;
                }

                op.Retired = true;
                if (!_pending.TryGetValue(op.Id, out var pending) || pending.Sequence != op.Sequence)
                {
                    continue;
                }

                var hidden = op.HiddenPending;
                while (hidden is { Retired: true })
                {
                    hidden = hidden.HiddenPending;
                }

                if (hidden is null)
                {
                    _pending.Remove(op.Id);
                }
                else
                {
                    _pending[op.Id] = (hidden.Kind == RecordKind.Chunk ? hidden.NewLocation : null, hidden.Sequence, hidden);
                }
            }
        }
    }
}
