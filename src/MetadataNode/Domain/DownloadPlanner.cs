using System.Text;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Download plans: for a version's chunks, every registered node that holds each (live first, in placement order) and
/// get tokens shared by runs of chunks on one node. Reads only.
/// </summary>
internal sealed partial class DownloadPlanner
{
    private readonly RocksEngine _engine;
    private readonly NodeRegistry _nodes;
    private readonly ChunkTokenService _tokens;
    private readonly MetadataNodeOptions _options;

    public DownloadPlanner(RocksEngine engine, NodeRegistry nodes, ChunkTokenService tokens, MetadataNodeOptions options)
    {
        _engine = engine;
        _nodes = nodes;
        _tokens = tokens;
        _options = options;
    }

    /// <summary>
    /// The chunks of a version with every node that holds each (live nodes first, in placement order) and get
    /// tokens. A token covers up to <see cref="Limits.ChunksPerGetToken"/> chunks of the plan on one node, so a client
    /// can fetch neighbours in one call with it. With <paramref name="limit"/> 0, the whole plan in the original form
    /// (refused when too large for one answer); else one compact page of chunks from <paramref name="offset"/>.
    /// </summary>
    public DownloadPlan GetDownloadPlan(NamespaceState ns, string? path, ulong version, uint offset = 0, uint limit = 0)
    {
        var normalized = PathGuard.Normalize(path);
        var entry = ReadEntry(ns.Id, normalized, version);
        if (entry.Kind == PathKind.Folder)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"'{normalized}' is a folder; only files have a download plan.");
        }

        var total = entry.Chunks.Count;
        if (limit == 0)
        {
            // ~1 KB a chunk in the whole form: past this many it cannot fit one answer, so do not even build it.
            if (total > Limits.MaxUnpagedPlanBytes / 512)
            {
                throw PlanTooLarge(normalized, total);
            }

            return new DownloadPlan(entry, Sources(ns.Id, normalized, entry.Chunks, 0, total), Paged: false, HasMore: false);
        }

        if (offset > total)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"offset {offset} is past the end of '{normalized}' (version {entry.Version} has {total} chunks).");
        }

        var count = (int)Math.Min(Math.Min(limit, (uint)Limits.MaxDownloadPlanPage), (uint)(total - (int)offset));
        return new DownloadPlan(entry, Sources(ns.Id, normalized, entry.Chunks, (int)offset, count), Paged: true, HasMore: offset + count < total);
    }

    /// <summary>Chunks [from, from + count) of <paramref name="chunks"/> with their holders and get tokens.</summary>
    private List<ChunkSource> Sources(string ns, string path, IReadOnlyList<ChunkRef> chunks, int from, int count)
    {
        var holders = Holders(path, chunks, from, count);
        var tokens = GetTokens(ns, chunks, from, holders);
        var sources = new List<ChunkSource>(count);
        for (var i = 0; i < count; i++)
        {
            sources.Add(new ChunkSource(chunks[from + i], holders[i], tokens[i]));
        }

        return sources;
    }

    /// <summary>
    /// <see cref="GetDownloadPlan"/> within the account's work budget: the call takes as many units as the chunks it
    /// answers for (the page, or the whole file), so a one-chunk file's plan costs one unit.
    /// </summary>
    public async Task<DownloadPlan> GetDownloadPlanAsync(NamespaceState ns, string? path, ulong version, uint offset, uint limit, CancellationToken cancellationToken)
    {
        var total = (uint)ReadEntry(ns.Id, PathGuard.Normalize(path), version).Chunks.Count;
        var units = limit == 0 ? total : Math.Min(Math.Min(limit, (uint)Limits.MaxDownloadPlanPage), total - Math.Min(offset, total));
        using var lease = await ns.Work.EnterAsync(units, cancellationToken).ConfigureAwait(false);
        return GetDownloadPlan(ns, path, version, offset, limit);
    }

    /// <summary>The refusal of a version that names a chunk no intact copy of is left (every replica failed its checksum, or was forgotten).</summary>
    internal static DropboxException Damaged(string path, ChunkId id) =>
        new(ErrorKind.DataLoss, $"This version of '{path}' is damaged: chunk {id} has no intact copy left on any storage node (scrub found every replica corrupt, or its last holder was forgotten with 'nodes forget --force'), so it cannot be downloaded. Restore an undamaged version ('history' marks the damaged ones) or upload the file again.");

    /// <summary>The refusal of a whole plan too large for one answer.</summary>
    internal static DropboxException PlanTooLarge(string path, int chunks) =>
        new(ErrorKind.ResourceExhausted, $"The download plan of '{path}' ({chunks} chunks) is too large for one answer (MaxUnpagedPlanBytes = {Limits.MaxUnpagedPlanBytes}): ask for it by pages (GetDownloadPlanRequest.limit, at most {Limits.MaxDownloadPlanPage} chunks a page).");

    /// <summary>For chunks [from, from + count): the registered nodes holding each, live first, in placement order.</summary>
    private List<NodeAddress[]> Holders(string path, IReadOnlyList<ChunkRef> chunks, int from, int count)
    {
        var result = new List<NodeAddress[]>(count);
        var holders = new List<StorageNodeInfo>();
        var addresses = new Dictionary<string, NodeAddress>(StringComparer.Ordinal); // one per node, shared by its chunks
        for (var i = from; i < from + count; i++)
        {
            var id = chunks[i].Id;
            holders.Clear();
            var record = ChunkLedger.Read(_engine, id);
            if (ChunkLedger.IsLost(record))
            {
                throw Damaged(path, id);
            }

            if (record is not null)
            {
                foreach (var nodeId in record.Locations)
                {
                    if (_nodes.TryGet(nodeId, out var node))
                    {
                        holders.Add(node);
                    }
                }

                holders.Sort((a, b) =>
                {
                    var live = _nodes.IsLive(b).CompareTo(_nodes.IsLive(a));
                    return live != 0 ? live : Placement.Score(b.NodeId, id).CompareTo(Placement.Score(a.NodeId, id));
                });
            }

            if (holders.Count == 0)
            {
                throw new DropboxException(ErrorKind.Unavailable, $"Chunk {id} of '{path}' has no registered storage node; the node holding it may be gone.");
            }

            var sorted = new NodeAddress[holders.Count];
            for (var k = 0; k < sorted.Length; k++)
            {
                var node = holders[k];
                if (!addresses.TryGetValue(node.NodeId, out var address))
                {
                    addresses[node.NodeId] = address = NodeAddress.Of(node);
                }

                sorted[k] = address;
            }

            result.Add(sorted);
        }

        return result;
    }

    /// <summary>
    /// Get tokens for the chunks from <paramref name="from"/> on, one per holder, same shape as <paramref name="holders"/>:
    /// runs of up to <see cref="Limits.ChunksPerGetToken"/> chunks on one node share a token.
    /// </summary>
    private List<string[]> GetTokens(string ns, IReadOnlyList<ChunkRef> chunks, int from, List<NodeAddress[]> holders)
    {
        var tokens = holders.Select(h => new string[h.Length]).ToList();
        var perNode = new Dictionary<string, List<(int Chunk, int Slot)>>(StringComparer.Ordinal);
        for (var i = 0; i < holders.Count; i++)
        {
            for (var k = 0; k < holders[i].Length; k++)
            {
                if (!perNode.TryGetValue(holders[i][k].NodeId, out var positions))
                {
                    perNode[holders[i][k].NodeId] = positions = [];
                }

                positions.Add((i, k));
            }
        }

        foreach (var (nodeId, positions) in perNode)
        {
            for (var start = 0; start < positions.Count; start += Limits.ChunksPerGetToken)
            {
                var group = positions.Skip(start).Take(Limits.ChunksPerGetToken).ToList();
                var ids = group.Select(p => chunks[from + p.Chunk].Id).Distinct().ToList();
                var token = _tokens.Issue(TokenOperation.Get, ns, nodeId, ids, _options.TokenLifetime);
                foreach (var (chunk, slot) in group)
                {
                    tokens[chunk][slot] = token;
                }
            }
        }

        return tokens;
    }

    private PathEntry ReadEntry(string ns, string path, ulong version)
    {
        if (version == 0)
        {
            var bytes = _engine.Get(Keys.File(ns, path), _engine.Files)
                ?? throw new DropboxException(ErrorKind.NotFound, $"'{path}' does not exist.");
            var current = StoredFormat.ReadFile(bytes).Current;
            if (current.Deleted)
            {
                throw new DropboxException(ErrorKind.NotFound, $"'{path}' was deleted (version {current.Version}); list its versions and restore one, or ask for an older version.");
            }

            return current;
        }

        var versionBytes = _engine.Get(Keys.Version(ns, path, version), _engine.Versions)
            ?? throw new DropboxException(ErrorKind.NotFound, $"'{path}' has no version {version} (it never existed or retention removed it).");
        var entry = StoredFormat.ReadVersion(versionBytes);
        if (entry.Deleted)
        {
            throw new DropboxException(ErrorKind.NotFound, $"Version {version} of '{path}' is a deletion; pick an earlier version.");
        }

        return entry;
    }
}
