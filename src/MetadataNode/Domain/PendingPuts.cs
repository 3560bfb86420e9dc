using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// One account's put tokens still outstanding: chunk ids with the time until which a "stored" event for them may
/// still arrive. Bounded by <see cref="Limits.MaxPendingPutsPerUser"/>; expiry is amortized O(1) per entry (every
/// entry lives equally long, so insertion order is expiry order). Nothing here grows with other accounts' load.
/// </summary>
internal sealed class PendingPuts
{
    private readonly object _lock = new();
    private readonly Dictionary<ChunkId, long> _until = [];

    /// <summary>Every (id, until) ever noted, oldest first; an entry superseded by a later note of the same id is skipped.</summary>
    private readonly Queue<(ChunkId Id, long Until)> _expiry = new();

    /// <summary>Live entries (expired ones are dropped on the next add).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _until.Count;
            }
        }
    }

    /// <summary>True while a put for the chunk is outstanding.</summary>
    public bool Contains(ChunkId id, long nowTicks)
    {
        lock (_lock)
        {
            return _until.TryGetValue(id, out var until) && until > nowTicks;
        }
    }

    /// <summary>
    /// Notes puts for <paramref name="ids"/> until <paramref name="untilTicks"/>, all or none: if the new ones would take
    /// the account past <paramref name="limit"/>, nothing is noted and the call is refused as ResourceExhausted.
    /// </summary>
    public void AddAll(IReadOnlyList<ChunkId> ids, long nowTicks, long untilTicks, int limit)
    {
        lock (_lock)
        {
            Expire(nowTicks);
            var added = 0;
            foreach (var id in ids)
            {
                if (!_until.ContainsKey(id))
                {
                    added++;
                }
            }

            if (_until.Count + added > limit)
            {
                throw new DropboxException(ErrorKind.ResourceExhausted,
                    $"Too many uploads outstanding for this account: {_until.Count} chunk(s) have put tokens whose upload has not been reported yet, and this plan adds {added}; the limit is MaxPendingPutsPerUser = {limit}. Upload (or let expire) what was planned before planning more.");
            }

            foreach (var id in ids)
            {
                _until[id] = untilTicks;
                _expiry.Enqueue((id, untilTicks));
            }

            if (_expiry.Count > (2 * _until.Count) + 1024)
            {
                Compact();
            }
        }
    }

    /// <summary>The upload of the chunk was reported: it is no longer outstanding.</summary>
    public void Remove(ChunkId id)
    {
        lock (_lock)
        {
            _until.Remove(id);
        }
    }

    private void Expire(long nowTicks)
    {
        while (_expiry.TryPeek(out var head) && head.Until <= nowTicks)
        {
            _expiry.Dequeue();
            if (_until.TryGetValue(head.Id, out var until) && until == head.Until)
            {
                _until.Remove(head.Id);
            }
        }
    }

    /// <summary>Drops queue entries that re-notes or removals made stale, so the queue stays proportional to the live set.</summary>
    private void Compact()
    {
        var live = _expiry.Where(e => _until.TryGetValue(e.Id, out var until) && until == e.Until).ToList();
        _expiry.Clear();
        foreach (var entry in live)
        {
            _expiry.Enqueue(entry);
        }
    }
}
