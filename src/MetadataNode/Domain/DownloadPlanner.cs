using System.Text;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
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
    public GetDownloadPlanResponse GetDownloadPlan(NamespaceState ns, string? path, ulong version, uint offset = 0, uint limit = 0)
    {
        var normalized = PathGuard.Normalize(path);
        var entry = ReadEntry(ns.Id, normalized, version);
        if (entry.Kind == EntryKind.Folder)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"'{normalized}' is a folder; only files have a download plan.");
        }

        var total = entry.Chunks.Count;
        if (limit == 0)
        {
            // ~1 KB a chunk in this form: past this many it cannot fit one answer, so do not even build it.
            if (total > Limits.MaxUnpagedPlanBytes / 512)
            {
                throw PlanTooLarge(normalized, total);
            }

            var whole = UnpagedPlan(ns.Id, normalized, entry);
            if (whole.CalculateSize() > Limits.MaxUnpagedPlanBytes)
            {
                throw PlanTooLarge(normalized, total);
            }

            return whole;
        }

        if (offset > total)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"offset {offset} is past the end of '{normalized}' (version {entry.Version} has {total} chunks).");
        }

        var count = (int)Math.Min(Math.Min(limit, (uint)Limits.MaxDownloadPlanPage), (uint)(total - (int)offset));
        var holders = Holders(normalized, entry, (int)offset, count);
        var tokens = GetTokens(ns.Id, entry, (int)offset, holders);
        var page = new GetDownloadPlanResponse { Entry = entry.Clone(), TotalChunks = (uint)total, HasMore = offset + count < total };
        page.Entry.Chunks.Clear();
        var compact = new CompactPlan(page.Nodes, page.Tokens);
        for (var i = 0; i < count; i++)
        {
            page.Chunks.Add(compact.Get(entry.Chunks[(int)offset + i], holders[i], tokens[i]));
        }

        return page;
    }

    /// <summary>
    /// Writes download plans in their compact form: each node and each get token listed once in the answer's
    /// <c>nodes</c> and <c>tokens</c>, every chunk naming them by index.
    /// </summary>
    private sealed class CompactPlan(Google.Protobuf.Collections.RepeatedField<ChunkLocation> nodes, Google.Protobuf.Collections.RepeatedField<string> tokens)
    {
        private readonly Dictionary<string, uint> _nodeIndex = new(StringComparer.Ordinal);
        private readonly Dictionary<string, uint> _tokenIndex = new(StringComparer.Ordinal);

        /// <summary>The get of <paramref name="chunk"/> from <paramref name="holders"/>, each with its token.</summary>
        public ChunkGet Get(Dropbox.Shared.Protos.Common.ChunkRef chunk, List<NodeRecord> holders, string[] holderTokens)
        {
            var get = new ChunkGet { Chunk = chunk };
            for (var k = 0; k < holders.Count; k++)
            {
                var node = holders[k];
                if (!_nodeIndex.TryGetValue(node.NodeId, out var n))
                {
                    _nodeIndex[node.NodeId] = n = (uint)nodes.Count;
                    nodes.Add(UploadCommit.ToLocation(node));
                }

                var token = holderTokens[k];
                if (!_tokenIndex.TryGetValue(token, out var t))
                {
                    _tokenIndex[token] = t = (uint)tokens.Count;
                    tokens.Add(token);
                }

                get.NodeIndexes.Add(n);
                get.TokenIndexes.Add(t);
            }

            return get;
        }
    }

    /// <summary>
    /// <see cref="GetDownloadPlan"/> within the account's work budget: the call takes as many units as the chunks it
    /// answers for (the page, or the whole file), so a one-chunk file's plan costs one unit.
    /// </summary>
    public async Task<GetDownloadPlanResponse> GetDownloadPlanAsync(NamespaceState ns, string? path, ulong version, uint offset, uint limit, CancellationToken cancellationToken)
    {
        var total = (uint)ReadEntry(ns.Id, PathGuard.Normalize(path), version).Chunks.Count;
        var units = limit == 0 ? total : Math.Min(Math.Min(limit, (uint)Limits.MaxDownloadPlanPage), total - Math.Min(offset, total));
        using var lease = await ns.Work.EnterAsync(units, cancellationToken).ConfigureAwait(false);
        return GetDownloadPlan(ns, path, version, offset, limit);
    }

    private static DropboxException PlanTooLarge(string path, int chunks) =>
        new(ErrorKind.ResourceExhausted, $"The download plan of '{path}' ({chunks} chunks) is too large for one answer (MaxUnpagedPlanBytes = {Limits.MaxUnpagedPlanBytes}): ask for it by pages (GetDownloadPlanRequest.limit, at most {Limits.MaxDownloadPlanPage} chunks a page).");

    /// <summary>The whole plan in the original form: nodes and a token in every ChunkGet.</summary>
    private GetDownloadPlanResponse UnpagedPlan(string ns, string path, FileEntry entry)
    {
        var holders = Holders(path, entry, 0, entry.Chunks.Count);
        var tokens = GetTokens(ns, entry, 0, holders);
        var response = new GetDownloadPlanResponse { Entry = entry };
        for (var i = 0; i < holders.Count; i++)
        {
            var get = new ChunkGet { Chunk = entry.Chunks[i] };
            foreach (var node in holders[i])
            {
                get.Nodes.Add(UploadCommit.ToLocation(node));
            }

            get.Tokens.AddRange(tokens[i]);
            response.Chunks.Add(get);
        }

        return response;
    }

    /// <summary>For chunks [from, from + count) of the entry: the registered nodes holding each, live first, in placement order.</summary>
    private List<List<NodeRecord>> Holders(string path, FileEntry entry, int from, int count)
    {
        var result = new List<List<NodeRecord>>(count);
        for (var i = from; i < from + count; i++)
        {
            var id = entry.Chunks[i].Id.ToChunkId();
            var holders = new List<NodeRecord>();
            if (ChunkLedger.Read(_engine, id) is { } record)
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

            result.Add(holders);
        }

        return result;
    }

    /// <summary>
    /// Get tokens for the chunks from <paramref name="from"/> on, one per holder, same shape as <paramref name="holders"/>:
    /// runs of up to <see cref="Limits.ChunksPerGetToken"/> chunks on one node share a token.
    /// </summary>
    private List<string[]> GetTokens(string ns, FileEntry entry, int from, List<List<NodeRecord>> holders)
    {
        var tokens = holders.Select(h => new string[h.Count]).ToList();
        var perNode = new Dictionary<string, List<(int Chunk, int Slot)>>(StringComparer.Ordinal);
        for (var i = 0; i < holders.Count; i++)
        {
            for (var k = 0; k < holders[i].Count; k++)
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
                var ids = group.Select(p => entry.Chunks[from + p.Chunk].Id.ToChunkId()).Distinct().ToList();
                var token = _tokens.Issue(TokenOperation.Get, ns, nodeId, ids, _options.TokenLifetime);
                foreach (var (chunk, slot) in group)
                {
                    tokens[chunk][slot] = token;
                }
            }
        }

        return tokens;
    }

    private FileEntry ReadEntry(string ns, string path, ulong version)
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
