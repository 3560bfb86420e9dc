using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Where a download's chunks come from, each verified: a local file that held it when last synced (re-hashed), else each
/// storage node the plan names for it in turn, a node that recently failed as unavailable tried last. One per
/// <see cref="FileDownloader"/> (<see cref="FileDownloader.Chunks"/>), used by its batch downloader too, so a node one
/// path found down is tried last by the other.
/// </summary>
internal sealed class ChunkFetcher
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly SemaphoreSlim _gets;

    /// <param name="ctx">The sync context (its folder, local state, transfer client).</param>
    /// <param name="summary">Where fetched and reused chunks are counted.</param>
    /// <param name="gets">Bounds the node gets in flight.</param>
    public ChunkFetcher(SyncContext ctx, SyncSummary summary, SemaphoreSlim gets)
    {
        _ctx = ctx;
        _summary = summary;
        _gets = gets;
    }

    /// <summary>How long a node that failed as unavailable (down, or hanging past a stall) is tried last.</summary>
    private static readonly TimeSpan ShunFor = TimeSpan.FromSeconds(60);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _shunned = new(StringComparer.Ordinal);

    /// <summary>True while the node at <paramref name="grpcUrl"/> recently failed as unavailable: try it last.</summary>
    internal bool IsShunned(string grpcUrl) => _shunned.TryGetValue(grpcUrl, out var until) && until > Environment.TickCount64;

    /// <summary>Notes that the node at <paramref name="grpcUrl"/> failed as unavailable.</summary>
    internal void Shun(string grpcUrl) => _shunned[grpcUrl] = Environment.TickCount64 + (long)ShunFor.TotalMilliseconds;

    /// <summary>The plan's nodes for a chunk in the order to try them: as planned, except recently failed ones last.</summary>
    private IEnumerable<int> NodeOrder(ChunkGet get) =>
        Enumerable.Range(0, Math.Min(get.Nodes.Count, RemoteBounds.MaxNodesPerChunk)).OrderBy(i => IsShunned(get.Nodes[i].GrpcUrl) ? 1 : 0);

    /// <summary>One chunk, verified: copied from a local file holding it, else fetched from each node holding it in turn.</summary>
    internal async Task<ChunkBuffer> ObtainAsync(ChunkGet get, ChunkRef reference, CancellationToken ct)
    {
        var local = await TryReadLocalAsync(reference, ct).ConfigureAwait(false);
        if (local is not null)
        {
            _summary.AddChunksReused(1);
            return local;
        }

        Exception? last = null;
        foreach (var i in NodeOrder(get))
        {
            if (!RemoteBounds.IsNodeUrl(get.Nodes[i].GrpcUrl))
            {
                last = new DropboxException(ErrorKind.DataLoss, $"the server named storage node '{SyncPaths.Display(get.Nodes[i].NodeId)}' at '{SyncPaths.Display(get.Nodes[i].GrpcUrl)}', which is not an http(s) URL");
                continue;
            }

            await _gets.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var token = i < get.Tokens.Count ? get.Tokens[i] : string.Empty;
                var received = await _ctx.Transfer.GetChunksAsync(get.Nodes[i], [reference.Id], token, ct).ConfigureAwait(false);
                if (received.Count != 1)
                {
                    foreach (var extra in received)
                    {
                        extra.Dispose();
                    }

                    throw new DropboxException(ErrorKind.DataLoss, $"Storage node {get.Nodes[i].NodeId} sent {received.Count} chunks for one request.");
                }

                var storedLength = received[0].Stored.Length;
                var plain = ChunkDecoder.DecodeAndVerify(received[0], reference.Id, reference.Size);
                _summary.AddChunksDownloaded(1);
                _summary.AddBytesDownloaded(storedLength);
                return plain;
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.DataLoss or ErrorKind.Unavailable or ErrorKind.NotFound or ErrorKind.Internal)
            {
                last = e; // try the next node holding it
                if (e.Kind == ErrorKind.Unavailable)
                {
                    Shun(get.Nodes[i].GrpcUrl);
                }
            }
            finally
            {
                _gets.Release();
            }
        }

        throw new DropboxException(ErrorKind.Unavailable, $"No storage node could serve chunk {reference.Id.ToShortString()}: {last?.Message ?? "no node holds it"}", last);
    }

    /// <summary>A chunk read (and re-hashed) from a local file that held it when last synced, or null.</summary>
    internal Task<ChunkBuffer?> TryReadLocalAsync(ChunkRef reference, CancellationToken ct) =>
        TryReadLocalAsync(reference, _ctx.State.FindChunk(reference.Id), ct);

    /// <summary>A chunk read (and re-hashed) from one of <paramref name="places"/> (the db's word for where it was), or null.</summary>
    internal async Task<ChunkBuffer?> TryReadLocalAsync(ChunkRef reference, IEnumerable<LocalChunkLocation> places, CancellationToken ct)
    {
        foreach (var place in places)
        {
            if (place.Length != reference.Size)
            {
                continue;
            }

            var buffer = ChunkBuffer.Rent(place.Length);
            try
            {
                await using var stream = new FileStream(_ctx.FullPath(place.Path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.Asynchronous);
                stream.Position = place.Offset;
                await stream.ReadExactlyAsync(buffer.Memory, ct).ConfigureAwait(false);
                if (ChunkId.Compute(buffer.Span) == reference.Id)
                {
                    var found = buffer;
                    buffer = null;
                    return found;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone or changed: fetch it instead.
            }
            finally
            {
                buffer?.Dispose();
            }
        }

        return null;
    }
}
