using System.Globalization;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>
/// The store's consistency check on a running node, without holding writers off for the scan: a RocksDB checkpoint
/// (one point in time, hard links) in a temp folder under the data folder, opened as its own database, checked with
/// <see cref="ConsistencyCheck"/>, removed. Optionally also asks the live storage nodes whether every referenced chunk
/// is held by at least one of them. One check at a time.
/// </summary>
internal sealed partial class OnlineCheck
{
    /// <summary>The temp folder under the data folder (removed after each check; a leftover from a crash, before the next).</summary>
    internal const string TempFolder = ".online-check";

    /// <summary>How many chunks held by no live node the check names one by one; the rest are counted.</summary>
    internal const int MaxChunkProblems = 100;

    private readonly MetadataStore _store;
    private readonly IStorageNodeGateway _gateway;
    private readonly string _dataDirectory;
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly ILogger _logger;

    public OnlineCheck(MetadataStore store, IStorageNodeGateway gateway, MetadataNodeOptions options, ILogger? logger = null)
    {
        _store = store;
        _gateway = gateway;
        _dataDirectory = options.DataDirectory;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Removes a folder and all in it (tests replace it to make a cleanup fail).</summary>
    internal Action<string> RemoveFolder { get; init; } = RemoveFolderTree;

    /// <summary>Checks a checkpoint of the store; with <paramref name="verifyChunks"/>, also the chunks on the live nodes.</summary>
    public async Task<CheckReport> RunAsync(bool verifyChunks, CancellationToken cancellationToken)
    {
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var temp = Path.Combine(_dataDirectory, TempFolder);
            try
            {
                RemoveFolder(temp);
                PrivateFolder.Create(temp);
                var checkpoint = Path.Combine(temp, "checkpoint");
                await Task.Run(() => _store.Engine.Checkpoint(checkpoint), cancellationToken).ConfigureAwait(false);
                using var snapshot = RocksEngine.Open(checkpoint);
                var (found, notes) = await Task.Run(() => new ConsistencyCheck(snapshot).RunWithNotes(), cancellationToken).ConfigureAwait(false);
                var problems = new List<string>(found);
                var verified = verifyChunks ? await VerifyChunksAsync(snapshot, problems, cancellationToken).ConfigureAwait(false) : 0;
                return new CheckReport(problems, verified) { Notes = notes };
            }
            finally
            {
                // A failed cleanup neither hides the check's answer nor blocks the next check (which removes the leftover first).
                try
                {
                    RemoveFolder(temp);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    CleanupFailed(_logger, temp, e);
                }
            }
        }
        finally
        {
            _one.Release();
        }
    }

    /// <summary>Asks each live node about the referenced chunks it is recorded on; a chunk no live node confirms is a problem.</summary>
    private async Task<long> VerifyChunksAsync(RocksEngine snapshot, List<string> problems, CancellationToken cancellationToken)
    {
        var live = _store.Nodes.LiveNodes().ToDictionary(n => n.NodeId, StringComparer.Ordinal);
        var perNode = new Dictionary<string, List<ChunkId>>(StringComparer.Ordinal);
        var referenced = new Dictionary<ChunkId, (long Refcount, string Locations)>();
        foreach (var (key, value) in snapshot.ScanAll(snapshot.Chunks))
        {
            var record = ChunkRecord.Parser.ParseFrom(value);
            if (record.Refcount <= 0 || (record.LostWithNode.Length > 0 && record.Locations.Count == 0))
            {
                continue; // unreferenced, or a known loss the check's notes name
            }

            var id = new ChunkId(key);
            referenced[id] = (record.Refcount, string.Join(", ", record.Locations));
            foreach (var node in record.Locations.Where(live.ContainsKey))
            {
                if (!perNode.TryGetValue(node, out var ids))
                {
                    perNode[node] = ids = [];
                }

                ids.Add(id);
            }
        }

        var confirmed = new HashSet<ChunkId>();
        foreach (var (nodeId, ids) in perNode.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            try
            {
                var present = await _gateway.HasChunksAsync(live[nodeId], ids, cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < ids.Count; i++)
                {
                    if (present[i])
                    {
                        confirmed.Add(ids[i]);
                    }
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                problems.Add($"storage node {nodeId}: could not be asked about its {ids.Count} chunk(s): {ex.Message}");
            }
        }

        // The first MaxChunkProblems are named; the rest are counted per recorded location, so a dead node with a
        // million chunks makes a short answer, not one over the message size limits.
        var named = 0;
        var more = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (id, (refcount, locations)) in referenced)
        {
            if (confirmed.Contains(id))
            {
                continue;
            }

            var where = locations.Length == 0 ? "none" : locations;
            if (named < MaxChunkProblems)
            {
                problems.Add($"chunk {id.ToShortString()}: referenced by {refcount} version(s) but held by no live storage node (recorded on: {where})");
                named++;
            }
            else
            {
                more[where] = more.GetValueOrDefault(where) + 1;
            }
        }

        foreach (var (where, count) in more)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{count} more referenced chunk(s) held by no live storage node (recorded on: {where})"));
        }

        return confirmed.Count;
    }

    private static void RemoveFolderTree(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [LoggerMessage(EventId = 4062, Level = LogLevel.Warning, Message = "The online check could not remove its temp checkpoint {Folder}; the next check removes it first")]
    private static partial void CleanupFailed(ILogger logger, string folder, Exception exception);
}
