using System.Buffers;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Store;
using Google.Protobuf;
using Grpc.Core;
using ProtoEncoding = Dropbox.Shared.Protos.Common.ChunkEncoding;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// gRPC adapter over <see cref="ChunkStore"/>: checks tokens (once per chunk header or per call, never per
/// byte), frames bytes, and leaves everything else to the store. Errors map to status in ErrorMappingInterceptor.
/// </summary>
public sealed class ChunkStorageService : ChunkStorage.ChunkStorageBase
{
    private readonly ChunkStore _store;
    private readonly ChunkTokenService _tokens;

    /// <summary>Creates the service.</summary>
    public ChunkStorageService(ChunkStore store, ChunkTokenService tokens)
    {
        _store = store;
        _tokens = tokens;
    }

    /// <summary>Chunks up to this size are hashed and handed to the store on the receive loop (larger ones off it).</summary>
    private const int InlinePutBytes = 64 << 10;

    private string NodeId => _store.NodeId.Value;

    /// <inheritdoc />
    public override async Task<PutChunksResponse> PutChunks(IAsyncStreamReader<PutChunkRequest> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var inFlight = new PendingPuts();
        var response = new PutChunksResponse();
        byte[]? buffer = null;
        ReadOnlyMemory<byte> whole = default;
        ChunkHeader? header = null;
        ChunkId id = default;
        string ns = string.Empty;
        var filled = 0;
        string? lastToken = null;
        ChunkToken? lastGrant = null;
        try
        {
            while (await requestStream.MoveNext(ct).ConfigureAwait(false))
            {
                var message = requestStream.Current;
                switch (message.PartCase)
                {
                    case PutChunkRequest.PartOneofCase.Header:
                        if (header is not null)
                        {
                            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()} ended after {filled} of {header.StoredSize} bytes; send all its data before the next header.");
                        }

                        header = message.Header;
                        id = header.ChunkId.ToChunkId();
                        ns = CheckHeader(header, id);
                        filled = 0;
                        break;
                    case PutChunkRequest.PartOneofCase.Packed:
                        if (header is not null)
                        {
                            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()} ended after {filled} of {header.StoredSize} bytes; send all its data before packed chunks.");
                        }

                        await PutPackedAsync(message.Packed).ConfigureAwait(false);
                        break;
                    case PutChunkRequest.PartOneofCase.Data:
                        if (header is null)
                        {
                            throw new DropboxException(ErrorKind.InvalidArgument, "Data arrived before a chunk header; send a ChunkHeader first.");
                        }

                        var data = message.Data;
                        if (data.Length > StoreLimits.MaxFrameBytes)
                        {
                            throw new DropboxException(ErrorKind.InvalidArgument, $"A data frame of {data.Length} bytes is over the {StoreLimits.MaxFrameBytes}-byte limit; split it.");
                        }

                        if (filled + data.Length > header.StoredSize)
                        {
                            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()} got more than its stored_size {header.StoredSize} bytes.");
                        }

                        if (filled == 0 && data.Length == header.StoredSize)
                        {
                            // The whole chunk in one frame (the usual case): its bytes are stored from the
                            // message as they are, without a copy.
                            whole = data.Memory;
                        }
                        else
                        {
                            buffer ??= ChunkBufferPool.Rent((int)header.StoredSize);
                            data.Span.CopyTo(buffer.AsSpan(filled));
                        }

                        filled += data.Length;
                        break;
                    default:
                        throw new DropboxException(ErrorKind.InvalidArgument, "Empty PutChunkRequest: set header or data.");
                }

                if (header is not null && filled == header.StoredSize)
                {
                    var stored = buffer is null ? whole : buffer.AsMemory(0, filled);
                    inFlight.Add(id, buffer, stored.Length, StartPut(id, header, stored, ns));
                    buffer = null;
                    whole = default;
                    header = null;
                    await DrainAsync(inFlight, response, StoreLimits.MaxInFlightBytesPerCall).ConfigureAwait(false);
                }
            }

            if (header is not null)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"The stream ended after {filled} of {header.StoredSize} bytes of chunk {id.ToShortString()}.");
            }

            await DrainAsync(inFlight, response, -1).ConfigureAwait(false);
            response.PackedAccepted = true;
            response.TokenTableAccepted = true;
            return response;
        }
        finally
        {
            if (buffer is not null)
            {
                ChunkBufferPool.Return(buffer);
            }

            // Buffers of puts still running must outlive them.
            foreach (var (_, pending, _, put) in inFlight.Items)
            {
                try
                {
                    await put.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Already reported (or the call failed for another reason); only the buffer matters here.
                }

                if (pending is not null)
                {
                    ChunkBufferPool.Return(pending);
                }
            }
        }

        // Hashes and stores one whole chunk. A small chunk hashes in microseconds: started here, it costs no thread-pool
        // hop per chunk; a larger one runs off the receive loop so the next chunk streams in meanwhile.
        Task StartPut(ChunkId putId, ChunkHeader putHeader, ReadOnlyMemory<byte> stored, string putNs) =>
            stored.Length <= InlinePutBytes
                ? _store.PutAsync(putId, ToDomain(putHeader.Encoding), (int)putHeader.PlainSize, stored, putNs, ct).AsTask()
                : Task.Run(() => _store.PutAsync(putId, ToDomain(putHeader.Encoding), (int)putHeader.PlainSize, stored, putNs, ct).AsTask(), ct);

        // Checks a chunk header (sizes, then its put token) and answers the namespace the token grants.
        string CheckHeader(ChunkHeader checkedHeader, ChunkId checkedId)
        {
            _store.ValidateHeader(checkedId, ToDomain(checkedHeader.Encoding), checkedHeader.PlainSize, checkedHeader.StoredSize);
            // A plan's put token may cover several chunks, sent one after another: its signature is
            // checked once per run; its expiry, operation, node and chunk for every chunk.
            if (!string.Equals(checkedHeader.Token, lastToken, StringComparison.Ordinal))
            {
                lastGrant = null;
                lastToken = checkedHeader.Token;
            }

            return Granted(ref lastGrant, checkedHeader.Token, checkedId);
        }

        // The same for a packed chunk in the compact form: its token is the one its index names in the message's list,
        // whose signature is checked once per message however the headers interleave them (grants, by index).
        string CheckListed(ChunkHeader checkedHeader, ChunkId checkedId, IReadOnlyList<string> tokens, ChunkToken?[] grants, int i)
        {
            _store.ValidateHeader(checkedId, ToDomain(checkedHeader.Encoding), checkedHeader.PlainSize, checkedHeader.StoredSize);
            var index = TokenIndexOf(tokens, checkedHeader, i);
            return Granted(ref grants[index], tokens[index], checkedId);
        }

        // The put token's grant of this chunk on this node: read (signature checked) into grant the first time, only its
        // expiry checked again after that; answers the namespace it grants.
        string Granted(ref ChunkToken? grant, string token, ChunkId checkedId)
        {
            if (grant is null)
            {
                grant = _tokens.Read(token);
            }
            else
            {
                _tokens.EnsureUnexpired(grant);
            }

            ChunkTokenService.EnsureGrants(grant, TokenOperation.Put, NodeId, checkedId);
            return grant.Namespace;
        }

        // Several whole small chunks in one message. Counts, sizes and every header and token are checked before any
        // chunk of the message is handed to the store; each chunk is then hashed and stored as one sent alone.
        async Task PutPackedAsync(PackedChunks packed)
        {
            var headers = packed.Headers;
            var data = packed.Data;
            if (headers.Count == 0 || headers.Count > StoreLimits.MaxPackedChunks)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"A packed message carries {headers.Count} chunk(s); send 1 to {StoreLimits.MaxPackedChunks}.");
            }

            if (data.Length > StoreLimits.MaxFrameBytes)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"A packed message of {data.Length} data bytes is over the {StoreLimits.MaxFrameBytes}-byte limit; send fewer chunks in it.");
            }

            // The compact form lists each token once; every header then names its own by index and carries none.
            var tokens = packed.Tokens;
            if (tokens.Count > headers.Count)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"A packed message lists {tokens.Count} put tokens for {headers.Count} chunk(s); list each token its chunks use once.");
            }

            var ids = new ChunkId[headers.Count];
            var namespaces = new string[headers.Count];
            var grants = tokens.Count == 0 ? null : new ChunkToken?[tokens.Count]; // each listed token's signature once per message
            long total = 0;
            for (var i = 0; i < headers.Count; i++)
            {
                var packedHeader = headers[i];
                if (packedHeader.StoredSize > PackedChunkLimits.MaxChunkBytes)
                {
                    throw new DropboxException(ErrorKind.InvalidArgument, $"Packed chunk {i} claims {packedHeader.StoredSize} bytes; packed chunks are at most {PackedChunkLimits.MaxChunkBytes} bytes, send larger ones as a header and data frames.");
                }

                total += packedHeader.StoredSize;
                ids[i] = packedHeader.ChunkId.ToChunkId();
                namespaces[i] = grants is null ? CheckHeader(packedHeader, ids[i]) : CheckListed(packedHeader, ids[i], tokens, grants, i);
            }

            if (total != data.Length)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"A packed message's chunks claim {total} bytes but it carries {data.Length}; their stored sizes must add up to its data exactly.");
            }

            var memory = data.Memory;
            var offset = 0;
            for (var i = 0; i < headers.Count; i++)
            {
                var packedHeader = headers[i];
                var size = (int)packedHeader.StoredSize;
                var stored = memory.Slice(offset, size);
                offset += size;
                // The message's bytes are stored from it as they are (it stays alive while the put runs).
                inFlight.Add(ids[i], null, size, StartPut(ids[i], packedHeader, stored, namespaces[i]));
            }

            await DrainAsync(inFlight, response, StoreLimits.MaxInFlightBytesPerCall).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// In the compact form (a message that lists its put tokens): which of them packed chunk <paramref name="i"/> names.
    /// A header that carries a token of its own beside the list, or names one past it, is refused.
    /// </summary>
    private static int TokenIndexOf(IReadOnlyList<string> tokens, ChunkHeader header, int i)
    {
        if (header.Token.Length > 0)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Packed chunk {i} carries a put token of its own in a message that lists its tokens; name it by token_index instead.");
        }

        return header.TokenIndex < tokens.Count
            ? (int)header.TokenIndex
            : throw new DropboxException(ErrorKind.InvalidArgument, $"Packed chunk {i} names put token #{header.TokenIndex}, but the message lists {tokens.Count}.");
    }

    /// <summary>Collects finished puts in order until the bytes still in flight are at most <paramref name="keepBytes"/>.</summary>
    private static async Task DrainAsync(PendingPuts inFlight, PutChunksResponse response, long keepBytes)
    {
        while (inFlight.Items.Count > 0 && (inFlight.Bytes > keepBytes || inFlight.Items.Peek().Put.IsCompleted))
        {
            var (id, buffer, _, put) = inFlight.Items.Peek();
            try
            {
                await put.ConfigureAwait(false);
            }
            finally
            {
                inFlight.RemoveFirst();
                if (buffer is not null)
                {
                    ChunkBufferPool.Return(buffer);
                }
            }

            // The same answer whether or not the node held the chunk before: a put must not reveal what others store.
            response.Results.Add(new PutChunkResult { ChunkId = id.ToByteString() });
        }
    }

    /// <inheritdoc />
    public override async Task GetChunks(GetChunksRequest request, IServerStreamWriter<GetChunkResponse> responseStream, ServerCallContext context)
    {
        var ids = ReadIds(request.ChunkIds);
        var token = _tokens.Read(request.Token);
        foreach (var id in ids)
        {
            ChunkTokenService.EnsureGrants(token, TokenOperation.Get, NodeId, id);
        }

        foreach (var id in ids)
        {
            using var chunk = await _store.ReadAsync(id, context.CancellationToken).ConfigureAwait(false);
            byte[]? plain = null;
            try
            {
                var data = chunk.Data;
                var encoding = chunk.Encoding;
                if (encoding == ChunkEncoding.Lz4 && !request.AcceptLz4)
                {
                    plain = ArrayPool<byte>.Shared.Rent(Math.Max(1, chunk.PlainLength));
                    ChunkCodec.Decode(encoding, data.Span, plain.AsSpan(0, chunk.PlainLength));
                    data = plain.AsMemory(0, chunk.PlainLength);
                    encoding = ChunkEncoding.Raw;
                }

                await responseStream.WriteAsync(new GetChunkResponse
                {
                    Header = new ChunkHeader
                    {
                        ChunkId = id.ToByteString(),
                        Encoding = (ProtoEncoding)encoding,
                        PlainSize = (uint)chunk.PlainLength,
                        StoredSize = (uint)data.Length,
                    },
                }, context.CancellationToken).ConfigureAwait(false);
                for (var offset = 0; offset < data.Length; offset += StoreLimits.MaxFrameBytes)
                {
                    var frame = data.Slice(offset, Math.Min(StoreLimits.MaxFrameBytes, data.Length - offset));

                    // The message is serialized before WriteAsync completes, so wrapping the pooled buffer is safe.
                    await responseStream.WriteAsync(new GetChunkResponse { Data = UnsafeByteOperations.UnsafeWrap(frame) }, context.CancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                if (plain is not null)
                {
                    ArrayPool<byte>.Shared.Return(plain);
                }
            }
        }
    }

    /// <inheritdoc />
    public override Task<HasChunksResponse> HasChunks(HasChunksRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, NodeId);
        var ids = ReadIds(request.ChunkIds);
        var present = new bool[ids.Length];
        _store.Has(ids, present);
        var response = new HasChunksResponse();
        response.Present.AddRange(present);
        return Task.FromResult(response);
    }

    /// <inheritdoc />
    public override async Task<DeleteChunksResponse> DeleteChunks(DeleteChunksRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, NodeId);
        var ids = ReadIds(request.ChunkIds);
        var deleted = await _store.DeleteAsync(ids, context.CancellationToken).ConfigureAwait(false);
        return new DeleteChunksResponse { Deleted = (uint)deleted };
    }

    /// <inheritdoc />
    public override Task<GetStatsResponse> GetStats(GetStatsRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, NodeId);
        var stats = _store.Engine.GetStats();
        return Task.FromResult(new GetStatsResponse
        {
            NodeId = NodeId,
            ChunkCount = (ulong)stats.ChunkCount,
            LiveBytes = (ulong)stats.LiveBytes,
            DeadBytes = (ulong)stats.DeadBytes,
            SegmentCount = (uint)stats.SegmentCount,
            Quarantined = (ulong)stats.Quarantined,
            PendingEvents = (ulong)_store.Outbox.PendingCount,
        });
    }

    /// <inheritdoc />
    public override async Task<ScrubResponse> Scrub(ScrubRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, NodeId);
        var result = await _store.ScrubAsync(context.CancellationToken).ConfigureAwait(false);
        var response = new ScrubResponse { Checked = (ulong)result.Checked };
        response.CorruptChunkIds.AddRange(result.Corrupt.Select(c => c.ToByteString()));
        return response;
    }

    private static ChunkId[] ReadIds(Google.Protobuf.Collections.RepeatedField<ByteString> ids)
    {
        if (ids.Count > StoreLimits.MaxIdsPerCall)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"{ids.Count} chunk ids in one call; send at most {StoreLimits.MaxIdsPerCall}.");
        }

        var result = new ChunkId[ids.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = ids[i].ToChunkId();
        }

        return result;
    }

    private static ChunkEncoding ToDomain(ProtoEncoding encoding) => (ChunkEncoding)(int)encoding;
}
