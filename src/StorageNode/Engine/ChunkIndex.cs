using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using FASTER.core;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The FASTER KV index: chunk id → <see cref="ChunkLocation"/>. Fixed-size blittable keys and values keep every
/// record inline. FASTER sessions are single-threaded, so callers borrow one from a pool per operation.
/// </summary>
internal sealed class ChunkIndex : IDisposable
{
    private readonly FasterKV<IndexKey, ChunkLocation> _store;
    private readonly IDevice _log;
    private readonly ConcurrentBag<ClientSession<IndexKey, ChunkLocation, ChunkLocation, ChunkLocation, Empty, SimpleFunctions<IndexKey, ChunkLocation>>> _sessions = new();
    private readonly List<ClientSession<IndexKey, ChunkLocation, ChunkLocation, ChunkLocation, Empty, SimpleFunctions<IndexKey, ChunkLocation>>> _allSessions = new();

    private readonly string _directory;
    private readonly string _checkpointDir;

    public ChunkIndex(string directory, EngineOptions options)
    {
        _directory = directory;
        _checkpointDir = System.IO.Path.Combine(directory, "checkpoints");
        Dropbox.Shared.IO.PrivateFolder.Create(directory);
        _log = Devices.CreateLogDevice(System.IO.Path.Combine(directory, "hlog.log"), preallocateFile: false);
        var settings = new FasterKVSettings<IndexKey, ChunkLocation>
        {
            IndexSize = options.IndexSizeBytes,
            LogDevice = _log,
            PageSize = options.IndexPageSizeBytes,
            MemorySize = options.IndexMemoryBytes,
            CheckpointDir = _checkpointDir,
            // Old checkpoints go only once the positions file names a newer one (PurgeCheckpointsExcept): FASTER's
            // own clean-up removed the named one before the new name was durable, and a crash then cost a full rebuild.
            RemoveOutdatedCheckpoints = false,
            EqualityComparer = IndexKeyComparer.Instance,
        };
        _store = new FasterKV<IndexKey, ChunkLocation>(settings);
    }

    /// <summary>Restores the index to a named full checkpoint; false if it is missing or unreadable.</summary>
    public bool TryRecover(Guid token)
    {
        try
        {
            _store.Recover(token);
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Any failure to recover is answered the same way: rebuild the index from the segments.
            return false;
        }
    }

    public bool TryGet(ChunkId id, out ChunkLocation location)
    {
        var key = IndexKey.From(id);
        return TryGet(ref key, out location);
    }

    public bool TryGet(ref IndexKey key, out ChunkLocation location)
    {
        var session = Rent();
        try
        {
            location = default;
            var status = session.Read(ref key, ref location);
            if (status.IsPending)
            {
                session.CompletePendingWithOutputs(out var outputs, wait: true);
                using (outputs)
                {
                    while (outputs.Next())
                    {
                        status = outputs.Current.Status;
                        location = outputs.Current.Output;
                    }
                }
            }

            return status.Found;
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>Looks up many ids with one borrowed session (the Has path).</summary>
    public void Contains(ReadOnlySpan<ChunkId> ids, Span<bool> present)
    {
        var session = Rent();
        try
        {
            var pending = false;
            for (var i = 0; i < ids.Length; i++)
            {
                var key = IndexKey.From(ids[i]);
                ChunkLocation output = default;
                var status = session.Read(ref key, ref output);
                if (status.IsPending)
                {
                    pending = true;
                    present[i] = false;
                    session.CompletePendingWithOutputs(out var outputs, wait: true);
                    using (outputs)
                    {
                        while (outputs.Next())
                        {
                            present[i] = outputs.Current.Status.Found;
                        }
                    }
                }
                else
                {
                    present[i] = status.Found;
                }
            }

            _ = pending;
        }
        finally
        {
            Return(session);
        }
    }

    public void Upsert(ChunkId id, ChunkLocation location)
    {
        var key = IndexKey.From(id);
        var session = Rent();
        try
        {
            session.Upsert(ref key, ref location);
        }
        finally
        {
            Return(session);
        }
    }

    public void Delete(ChunkId id)
    {
        var key = IndexKey.From(id);
        var session = Rent();
        try
        {
            session.Delete(ref key);
            session.CompletePending(wait: true);
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>Every live entry, copied out (scrub, compaction, stats).</summary>
    /// <remarks>
    /// Scans the log itself, oldest record first: FASTER appends every new version of a key (and every delete's
    /// tombstone) after the older ones, so the last record of a key seen is its live one, and a tombstone removes it.
    /// The scan skips records FASTER marked invalid or sealed, as its own iterator does. That iterator
    /// (<c>ClientSession.Iterate</c>) gives the same entries but builds a temporary FasterKV for every call to sort
    /// out older versions, allocating and zeroing two 32 MiB log pages (its default log settings) and hash buckets:
    /// most of the time of a scrub or a recovery of a small store went there (60% of the CPU of the power-cut tests).
    /// The dictionary the scan fills is what is returned (in no particular order), not copied again: a second copy
    /// (a list of it) doubled the peak memory of a snapshot of a large store.
    /// </remarks>
    public IReadOnlyDictionary<ChunkId, ChunkLocation> Snapshot()
    {
        var live = new Dictionary<ChunkId, ChunkLocation>();
        using (var iterator = _store.Log.Scan(_store.Log.BeginAddress, _store.Log.TailAddress))
        {
            while (iterator.GetNext(out var info))
            {
                var id = iterator.GetKey().ToChunkId();
                if (info.Tombstone)
                {
                    live.Remove(id);
                }
                else
                {
                    live[id] = iterator.GetValue();
                }
            }
        }

        return live;
    }

    /// <summary>The address the index's next new record goes to (a test checks that an update or delete was in place).</summary>
    internal long LogTailAddress => _store.Log.TailAddress;

    /// <summary>Takes a full (index + log) fold-over checkpoint and returns its token.</summary>
    public async Task<Guid> CheckpointAsync(CancellationToken cancellationToken)
    {
        var (success, token) = await _store.TakeFullCheckpointAsync(CheckpointType.FoldOver, cancellationToken).ConfigureAwait(false);
        if (!success)
        {
            throw new InvalidOperationException("FASTER refused to take a checkpoint (another one is in progress).");
        }

        // FASTER writes its files through (O_DSYNC) but never fsyncs a directory: make the new checkpoint's entries
        // durable before the positions file names it.
        foreach (var directory in Directory.EnumerateDirectories(_checkpointDir, "*", SearchOption.AllDirectories).Append(_checkpointDir).Append(_directory))
        {
            Dropbox.Shared.IO.DirectorySync.Flush(directory);
        }

        return token;
    }

    /// <summary>Deletes every checkpoint but those in <paramref name="keep"/> (the one the durable positions file names, and the newest).</summary>
    public void PurgeCheckpointsExcept(IReadOnlyCollection<Guid> keep)
    {
        var manager = _store.CheckpointManager;
        foreach (var token in manager.GetIndexCheckpointTokens().Concat(manager.GetLogCheckpointTokens()).Distinct().ToList())
        {
            if (!keep.Contains(token))
            {
                manager.Purge(token);
            }
        }
    }

    private ClientSession<IndexKey, ChunkLocation, ChunkLocation, ChunkLocation, Empty, SimpleFunctions<IndexKey, ChunkLocation>> Rent()
    {
        if (_sessions.TryTake(out var session))
        {
            return session;
        }

        session = _store.For(new SimpleFunctions<IndexKey, ChunkLocation>()).NewSession<SimpleFunctions<IndexKey, ChunkLocation>>();
        lock (_allSessions)
        {
            _allSessions.Add(session);
        }

        return session;
    }

    private void Return(ClientSession<IndexKey, ChunkLocation, ChunkLocation, ChunkLocation, Empty, SimpleFunctions<IndexKey, ChunkLocation>> session) => _sessions.Add(session);

    public void Dispose()
    {
        lock (_allSessions)
        {
            foreach (var session in _allSessions)
            {
                session.Dispose();
            }

            _allSessions.Clear();
        }

        _store.Dispose();
        _log.Dispose();
    }
}
