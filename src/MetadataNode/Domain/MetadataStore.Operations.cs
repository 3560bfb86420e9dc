using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class MetadataStore
{
    private int _disposed;

    /// <summary>True until the store is disposed (RocksDB closed).</summary>
    public bool IsOpen => Volatile.Read(ref _disposed) == 0;

    /// <summary>Held by <see cref="Dispose"/> and by <see cref="WhileOpen"/>.</summary>
    private readonly object _closeGate = new();

    /// <summary>
    /// Runs <paramref name="read"/> while the store stays open (a metrics scrape: its reads may race the store's close,
    /// and a RocksDB read on a closed database touches freed native memory); false, without running it, once closed.
    /// A close waits for a read already running.
    /// </summary>
    public bool WhileOpen(Action read)
    {
        lock (_closeGate)
        {
            if (!IsOpen)
            {
                return false;
            }

            read();
            return true;
        }
    }

    /// <summary>The RocksDB directory.</summary>
    public string DataDirectory => _options.DataDirectory;

    /// <summary>Heap memory of the store's open sorted tables' readers: index and Bloom filter blocks (the metrics).</summary>
    public long TableReaderBytes => _engine.TableReaderBytes();

    /// <summary>How many storage nodes each chunk should be on.</summary>
    public int ReplicationFactor => _options.ReplicationFactor;

    /// <summary>Accounts (one namespace per user).</summary>
    public int NamespaceCount => _namespaces.Count;

    /// <summary>Storage nodes ever registered.</summary>
    public int RegisteredNodeCount => _nodeRegistry.Count;

    /// <summary>Put tokens outstanding over all accounts (uploads planned and not yet reported stored).</summary>
    public long PendingPutCount()
    {
        long total = 0;
        foreach (var state in _namespaces.Values)
        {
            total += state.Pending.Count;
        }

        return total;
    }

    /// <summary>
    /// Stored chunks that fewer than <see cref="ReplicationFactor"/> live storage nodes are confirmed to hold. A scan of
    /// every chunk record: call it from a cache, not per request. Once the node is stopping (<see cref="ReleaseWaiters"/>,
    /// <see cref="Dispose"/>) the scan ends where it is and the answer is false with a partial count: a scrape holds the
    /// store's close gate while it scans, and a shutdown waits for it (minutes over hundreds of millions of records).
    /// </summary>
    public bool TryCountUnderReplicated(out long count)
    {
        var live = LiveNodes().Where(n => !n.Draining).Select(n => n.NodeId).ToHashSet(StringComparer.Ordinal); // a draining node's copies are on their way out
        var wanted = _options.ReplicationFactor;
        long under = 0;
        var complete = true;
        _engine.Visit(_engine.Chunks, [], [], (_, value) =>
        {
            var chunk = ChunkRecord.Parser.ParseFrom(value);
            if (chunk.State == ChunkState.Stored)
            {
                var copies = 0;
                foreach (var node in chunk.Locations)
                {
                    if (live.Contains(node))
                    {
                        copies++;
                    }
                }

                if (copies < wanted)
                {
                    under++;
                }
            }

            complete = !_stopping.IsCancellationRequested;
            return complete;
        });

        count = under;
        return complete;
    }
}
