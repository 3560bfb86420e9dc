using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Deletes a removed user's account in bounded batches (each one transaction under the write lock): first its versions,
/// each dropping its chunk references as retention does (a chunk only this account referenced becomes a collection
/// candidate and keeps the collector's grace; one another account references keeps its count, which a concurrent commit
/// changes under the same lock), then its files, its change log and its chunk marks, and last its namespace record. The
/// account was marked removed in the same write that revoked the token, and nothing writes to a removed account, so a
/// pass always makes progress; a crash between batches leaves every batch whole and the next pass resumes where it stopped.
/// </summary>
internal sealed class AccountPurger
{
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly ConcurrentDictionary<string, NamespaceState> _namespaces;
    private readonly TimeProvider _clock;
    private readonly int _batchSize;

    // Most batches one pass runs, so the collector's other work is not held up by a huge account.
    private readonly int _batchesPerPass;
    private readonly ILogger _logger;

    public AccountPurger(RocksEngine engine, StoreTransactions transactions, ConcurrentDictionary<string, NamespaceState> namespaces, MetadataNodeOptions options, ILogger logger)
    {
        _batchSize = Math.Max(1, options.PurgeBatchSize);
        _batchesPerPass = Math.Max(1, options.PurgeBatchesPerPass);
        _engine = engine;
        _transactions = transactions;
        _namespaces = namespaces;
        _clock = options.Clock;
        _logger = logger;
    }

    /// <summary>Accounts removed and not yet wholly purged.</summary>
    public int Pending => _namespaces.Values.Count(s => s.Record.Removed);

    /// <summary>One pass over the removed accounts (at most MetadataNodeOptions.PurgeBatchesPerPass batches); returns the versions deleted.</summary>
    public int RunOnce()
    {
        // One pass at a time: the collector and the purge's own timer both run it.
        lock (_running)
        {
            return RunPass();
        }
    }

    private readonly Lock _running = new();

    /// <summary>Tests: runs after each purge batch is written.</summary>
    internal Action? AfterBatch { get; set; }

    private int RunPass()
    {
        var budget = _batchesPerPass;
        var versionsDeleted = 0;
        foreach (var state in _namespaces.Values.Where(s => s.Record.Removed).ToList())
        {
            var ns = state.Id;
            int versions = 0, files = 0, changes = 0, marks = 0;
            var prefix = Keys.ChangePrefix(ns); // namespace + separator: the same prefix in every per-namespace family
            versions += Drain(_engine.Versions, prefix, ref budget, (batch, key) =>
            {
                var (_, path, sequence) = Keys.ParseVersionKey(key);
                if (batch.DeletesVersion(ns, path, sequence) || _engine.Get(key, _engine.Versions) is not { } bytes)
                {
                    return false; // pruned by retention since the scan
                }

                ChunkLedger.AddReferences(batch, ns, StoredFormat.ReadVersion(bytes), -1, NowMs);
                batch.DeleteVersion(ns, path, sequence);
                return true;
            });
            files += Drain(_engine.Files, prefix, ref budget, (batch, key) =>
            {
                batch.PutFile(ns, Keys.PathOfFileKey(key), null);
                return true;
            });
            changes += Drain(_engine.Changes, prefix, ref budget, (batch, key) =>
            {
                batch.DeleteChange(ns, Keys.SequenceOfChangeKey(key));
                return true;
            });
            marks += Drain(_engine.NamespaceChunks, prefix, ref budget, (batch, key) =>
            {
                batch.PutNamespaceChunk(ns, Keys.ChunkOfNamespaceChunkKey(key), null);
                return true;
            });
            versionsDeleted += versions;

            var finished = budget > 0 && _transactions.WriteNow(batch =>
            {
                // Re-checked under the lock: nothing of the account may be left when its record goes.
                if (Any(_engine.Versions, prefix) || Any(_engine.Files, prefix) || Any(_engine.Changes, prefix) || Any(_engine.NamespaceChunks, prefix))
                {
                    return false;
                }

                batch.DeleteNamespace(ns);
                return true;
            }, done =>
            {
                if (done)
                {
                    _namespaces.TryRemove(ns, out _);
                }
            });
            if (versions + files + changes + marks > 0 || finished)
            {
                Log.AccountPurged(_logger, ns, versions, files, changes, marks, finished ? "; account gone" : "; more next pass");
            }

            if (budget <= 0)
            {
                break;
            }
        }

        return versionsDeleted;
    }

    private long NowMs => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    private bool Any(RocksDbSharp.ColumnFamilyHandle family, byte[] prefix) => _engine.ScanPrefix(family, prefix).Any();

    /// <summary>Deletes every key of <paramref name="family"/> under <paramref name="prefix"/>, a batch per transaction, while budget lasts.</summary>
    private int Drain(RocksDbSharp.ColumnFamilyHandle family, byte[] prefix, ref int budget, Func<RecordBatch, byte[], bool> delete)
    {
        var total = 0;
        while (budget > 0)
        {
            var keys = _engine.ScanPrefix(family, prefix).Take(_batchSize).Select(kv => kv.Key).ToList();
            if (keys.Count == 0)
            {
                break;
            }

            budget--;
            total += _transactions.Mutate(null, (batch, _) => keys.Count(key => delete(batch, key)), sync: true);
            AfterBatch?.Invoke();
        }

        return total;
    }
}
