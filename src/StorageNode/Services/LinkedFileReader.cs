using System.Buffers;
using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Store;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using ChunkEncoding = Dropbox.Shared.Chunks.ChunkEncoding;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// Serves the bytes of a file link (<see cref="FileLinkEndpoints"/>): asks the metadata node (system token) for the
/// linked version's plan page by page, and reads each chunk in order, from this node's store when it holds an intact
/// copy, else from the next node that holds one (the get tokens of the plan, gRPC GetChunks), verifying every chunk's
/// SHA-256 and size before a byte of it is sent. One chunk is fetched ahead while the previous one is written.
/// </summary>
internal sealed partial class LinkedFileReader
{
    /// <summary>Chunks per plan page asked of the metadata node.</summary>
    internal const uint PageSize = 1000;

    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(2);
    private readonly ChunkStore _store;
    private readonly ChunkTokenService _tokens;
    private readonly GrpcChannelCache _channels;
    private readonly StorageNodeOptions _options;
    private readonly ILogger<LinkedFileReader> _logger;

    public LinkedFileReader(ChunkStore store, ChunkTokenService tokens, GrpcChannelCache channels, StorageNodeOptions options, ILogger<LinkedFileReader> logger)
    {
        _store = store;
        _tokens = tokens;
        _channels = channels;
        _options = options;
        _logger = logger;
        Links = tokens.FileLinks();
    }

    /// <summary>Reads link tokens (same key ring as chunk tokens).</summary>
    public FileLinkTokenService Links { get; }

    /// <summary>
    /// A page of the linked version's plan. The metadata node's refusals come back as <see cref="DropboxException"/>s of
    /// the matching kind (NotFound: the version or the account is gone; Unauthenticated: it does not accept the link).
    /// </summary>
    public async Task<GetDownloadPlanResponse> ResolveAsync(string linkToken, uint offset, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(_options.MetadataUrl))
        {
            throw new DropboxException(ErrorKind.Unavailable, "This storage node runs without a metadata node and cannot serve file links.");
        }

        var client = new Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient(_channels.Get(_options.MetadataUrl));
        var auth = new Metadata { { "authorization", "Bearer " + _tokens.IssueSystem("metadata", TimeSpan.FromMinutes(5)) } };
        try
        {
            return await client.ResolveLinkAsync(new ResolveLinkRequest { LinkToken = linkToken, Offset = offset, Limit = PageSize }, auth, DateTime.UtcNow + CallTimeout, ct).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            var kind = GrpcErrorMapping.FromStatusCode(e.StatusCode);
            throw new DropboxException(kind is ErrorKind.Internal ? ErrorKind.Unavailable : kind, e.Status.Detail, e);
        }
    }

    /// <summary>
    /// Writes the plain bytes of every chunk of the version, in order, to <paramref name="body"/>, starting with the
    /// page already read. Throws (after some bytes may have gone out) when a chunk is readable from no holder or the
    /// chunks do not add up to <paramref name="size"/>.
    /// </summary>
    public async Task CopyToAsync(string linkToken, GetDownloadPlanResponse firstPage, ulong size, Stream body, CancellationToken ct)
    {
        var page = firstPage;
        uint offset = 0;
        ulong written = 0;
        Task<PlainChunk>? ahead = null;
        var index = 0;
        try
        {
            while (true)
            {
                if (index == page.Chunks.Count)
                {
                    if (!page.HasMore)
                    {
                        break;
                    }

                    offset += (uint)page.Chunks.Count;
                    page = await ResolveAsync(linkToken, offset, ct).ConfigureAwait(false);
                    index = 0;
                    if (page.Chunks.Count == 0)
                    {
                        throw new DropboxException(ErrorKind.Internal, $"The metadata node answered an empty page at chunk {offset}.");
                    }

                    continue;
                }

                var current = ahead ?? FetchAsync(page, index, ct);
                ahead = index + 1 < page.Chunks.Count ? FetchAsync(page, index + 1, ct) : null;
                index++;
                using var chunk = await current.ConfigureAwait(false);
                written += (ulong)chunk.Length;
                if (written > size)
                {
                    throw new DropboxException(ErrorKind.Internal, $"The version's chunks add up to more than its size ({size} bytes).");
                }

                await body.WriteAsync(chunk.Memory, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            if (ahead is not null)
            {
                try
                {
                    (await ahead.ConfigureAwait(false)).Dispose();
                }
                catch (Exception e) when (e is DropboxException or OperationCanceledException or RpcException)
                {
                    // The fetch ahead is not needed once the copy has failed.
                }
            }
        }

        if (written != size)
        {
            throw new DropboxException(ErrorKind.Internal, $"The version's chunks add up to {written} bytes, not its size {size}.");
        }
    }

    private async Task<PlainChunk> FetchAsync(GetDownloadPlanResponse page, int index, CancellationToken ct)
    {
        var get = page.Chunks[index];
        var chunk = get.Chunk.ToDomain();
        if (chunk.Size < 0 || chunk.Size > StoreLimits.AbsoluteMaxChunkBytes)
        {
            throw new DropboxException(ErrorKind.Internal, $"Chunk {chunk.Id.ToShortString()} has an impossible size {chunk.Size}.");
        }

        var failures = new List<string>();
        var holders = get.NodeIndexes.Count;
        for (var k = 0; k < holders; k++)
        {
            var node = page.Nodes[(int)get.NodeIndexes[k]];
            if (node.NodeId == _store.NodeId.Value && await TryReadLocalAsync(chunk, failures, ct).ConfigureAwait(false) is { } local)
            {
                return local;
            }
        }

        for (var k = 0; k < holders; k++)
        {
            var node = page.Nodes[(int)get.NodeIndexes[k]];
            if (node.NodeId == _store.NodeId.Value)
            {
                continue;
            }

            var token = k < get.TokenIndexes.Count ? page.Tokens[(int)get.TokenIndexes[k]] : string.Empty;
            try
            {
                return await ReadFromPeerAsync(chunk, node, token, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is DropboxException or RpcException or HttpRequestException && !ct.IsCancellationRequested)
            {
                failures.Add($"{node.NodeId}: {e.Message}");
                Log.PeerReadFailed(_logger, chunk.Id.ToShortString(), node.NodeId, e.Message);
            }
        }

        throw new DropboxException(ErrorKind.Unavailable, $"Chunk {chunk.Id.ToShortString()} is readable from none of its {holders} holder(s): {string.Join("; ", failures)}");
    }

    private async Task<PlainChunk?> TryReadLocalAsync(ChunkRef expected, List<string> failures, CancellationToken ct)
    {
        Engine.StoredChunk stored;
        try
        {
            stored = await _store.ReadAsync(expected.Id, ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.DataLoss)
        {
            failures.Add($"{_store.NodeId.Value} (this node): {e.Message}");
            return null;
        }

        using (stored)
        {
            var plain = new PlainChunk(expected.Size);
            try
            {
                if (stored.PlainLength != expected.Size)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"holds {stored.PlainLength} bytes, the plan says {expected.Size}");
                }

                if (stored.Encoding == ChunkEncoding.Raw)
                {
                    stored.Data.Span.CopyTo(plain.Span);
                }
                else
                {
                    ChunkCodec.Decode(stored.Encoding, stored.Data.Span, plain.Span);
                }

                plain.Verify(expected.Id);
                return plain;
            }
            catch (Exception e) when (e is DropboxException or InvalidDataException or ArgumentException)
            {
                plain.Dispose();
                failures.Add($"{_store.NodeId.Value} (this node): {e.Message}");

                // Bytes that do not decode or hash to their id are quarantined and reported as a scrub would (re-checked
                // first: a plan naming another size is not the copy's fault).
                await _store.QuarantineIfCorruptAsync(expected.Id, CancellationToken.None).ConfigureAwait(false);
                return null;
            }
        }
    }

    private async Task<PlainChunk> ReadFromPeerAsync(ChunkRef expected, ChunkLocation node, string token, CancellationToken ct)
    {
        var client = new ChunkStorage.ChunkStorageClient(_channels.Get(node.GrpcUrl));
        var request = new GetChunksRequest { Token = token, AcceptLz4 = false };
        request.ChunkIds.Add(expected.Id.ToByteString());
        using var call = client.GetChunks(request, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
        var plain = new PlainChunk(expected.Size);
        try
        {
            var stream = call.ResponseStream;
            if (!await stream.MoveNext(ct).ConfigureAwait(false) || stream.Current.Header is not { } header)
            {
                throw new DropboxException(ErrorKind.DataLoss, "the answer starts without a chunk header");
            }

            if (header.ChunkId.ToChunkId() != expected.Id || header.Encoding != Dropbox.Shared.Protos.Common.ChunkEncoding.Raw || header.StoredSize != (uint)expected.Size)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"the answer's header ({header.Encoding}, {header.StoredSize} bytes) is not the raw chunk of {expected.Size} bytes asked for");
            }

            var filled = 0;
            while (filled < expected.Size)
            {
                if (!await stream.MoveNext(ct).ConfigureAwait(false) || stream.Current.PartCase != GetChunkResponse.PartOneofCase.Data)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"the chunk ends after {filled} of {expected.Size} bytes");
                }

                var data = stream.Current.Data.Span;
                if (data.Length > expected.Size - filled)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"the chunk runs past its {expected.Size} bytes");
                }

                data.CopyTo(plain.Span[filled..]);
                filled += data.Length;
            }

            plain.Verify(expected.Id);
            return plain;
        }
        catch
        {
            plain.Dispose();
            throw;
        }
    }

    /// <summary>A chunk's plain bytes in a pooled buffer.</summary>
    private sealed class PlainChunk : IDisposable
    {
        private byte[]? _buffer;

        public PlainChunk(int length)
        {
            Length = length;
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        }

        public int Length { get; }

        public Span<byte> Span => (_buffer ?? throw new ObjectDisposedException(nameof(PlainChunk))).AsSpan(0, Length);

        public ReadOnlyMemory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(PlainChunk))).AsMemory(0, Length);

        /// <summary>Refuses bytes that are not the chunk named (DataLoss).</summary>
        public void Verify(ChunkId id)
        {
            if (ChunkId.Compute(Span) != id)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"the bytes of chunk {id.ToShortString()} do not hash to its id");
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2300, Level = LogLevel.Warning, Message = "File link: chunk {Chunk} could not be read from node {Node}: {Detail}; trying the next holder")]
        public static partial void PeerReadFailed(ILogger logger, string chunk, string node, string detail);
    }
}
