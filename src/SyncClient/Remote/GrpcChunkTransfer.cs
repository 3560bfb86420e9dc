using System.Buffers;
using System.Collections.Concurrent;
using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Google.Protobuf;
using Grpc.Core;

namespace Dropbox.SyncClient.Remote;

/// <summary><see cref="IChunkTransfer"/> over the storage nodes' gRPC API (header frame, then data frames of at most 1 MiB).</summary>
internal sealed class GrpcChunkTransfer : IChunkTransfer
{
    /// <summary>Largest data frame sent or expected.</summary>
    public const int FrameSize = 1 << 20;

    /// <summary>Largest stored chunk accepted from a node (far above the chunker's maximum; guards the buffer rent).</summary>
    public const int MaxStoredChunkBytes = 64 << 20;

    /// <summary>Data bytes of one packed message (the node takes up to a frame; smaller messages keep the stream moving).</summary>
    public const int MaxPackedDataBytes = 256 << 10;

    /// <summary>Chunks in one packed message (the node takes up to 256).</summary>
    public const int MaxPackedChunks = 128;

    /// <summary>Token characters in one packed message, so its headers stay well inside the node's message limit.</summary>
    public const int MaxPackedHeaderChars = 32 << 10;

    private readonly GrpcChannelCache _channels;

    /// <summary>
    /// gRPC URLs of nodes that refused a packed call or whose last PutChunks answer did not say they take packed
    /// messages; every other node is sent packed messages from the first call on (a one-shot sync starts all its
    /// small-file groups before any answer arrives, so waiting for an answer would send almost everything plain).
    /// </summary>
    private readonly ConcurrentDictionary<string, bool> _plainNodes = new(StringComparer.Ordinal);

    /// <summary>gRPC URLs of nodes that have answered with packed_accepted at least once (this process).</summary>
    private readonly ConcurrentDictionary<string, bool> _packedAnswered = new(StringComparer.Ordinal);

    /// <summary>
    /// gRPC URLs of nodes whose last PutChunks answer said token_table_accepted: their packed messages list each put token
    /// once (a plan's token covers up to 16 chunks, about 1 KB each time it was repeated). Others get the original form,
    /// which every node takes; so the first calls to a node, before any answer, are sent that way.
    /// </summary>
    private readonly ConcurrentDictionary<string, bool> _tableNodes = new(StringComparer.Ordinal);

    public GrpcChunkTransfer(GrpcChannelCache channels)
    {
        _channels = channels;
    }

    public async Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct)
    {
        // Small chunks go several to a message unless the node refused that or its last answer did not say it takes
        // them (an older node refuses the first packed call, which is then sent again plain, and answers without
        // packed_accepted, so it sees headers and data frames from then on).
        var packed = !_plainNodes.ContainsKey(grpcUrl) && chunks.Any(c => c.Stored.Length <= PackedChunkLimits.MaxChunkBytes);
        if (!packed)
        {
            await PutOnceAsync(grpcUrl, chunks, packed: false, tables: false, ct).ConfigureAwait(false);
            return;
        }

        if (_tableNodes.ContainsKey(grpcUrl))
        {
            try
            {
                await PutOnceAsync(grpcUrl, chunks, packed: true, tables: true, ct).ConfigureAwait(false);
                return;
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
                // The node at this address may have been replaced by one that takes packed messages but not token
                // tables: it reads each header's own token, empty in this form, and refuses the message (as
                // unauthenticated). Whatever the failure, the same batch goes once more in the original packed form,
                // and tables are sent again only after an answer says they are taken.
                _tableNodes.TryRemove(grpcUrl, out _);
            }
        }

        try
        {
            await PutOnceAsync(grpcUrl, chunks, packed: true, tables: false, ct).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Whatever refused the packed call (the node at this address replaced by an older one, or by one that
            // answers Internal or Unknown, or a proxy in front of it), the next calls send the plain form until an
            // answer says packed messages are taken again.
            _plainNodes.TryAdd(grpcUrl, true);
            // An older node refuses the packed field as an empty request (INVALID_ARGUMENT); when that refusal comes
            // while the client is still writing a batch of several messages, the call may end as a reset stream
            // instead. So a node never heard to take packed messages gets the batch again plain whatever the failure
            // (a node that is down fails that call too, at once); one that did take them fails as before.
            if (e is not DropboxException { InnerException: RpcException { StatusCode: StatusCode.InvalidArgument } } && _packedAnswered.ContainsKey(grpcUrl))
            {
                throw;
            }
        }

        // The same batch once more in the plain form (a put is idempotent and the node answers a repeated one the same
        // way), so the caller never sees an older node's refusal.
        await PutOnceAsync(grpcUrl, chunks, packed: false, tables: false, ct).ConfigureAwait(false);
    }

    private async Task PutOnceAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, bool packed, bool tables, CancellationToken ct)
    {
        var client = new ChunkStorage.ChunkStorageClient(_channels.Get(grpcUrl));
        byte[]? pack = null;
        try
        {
            using var call = client.PutChunks(cancellationToken: ct);
            for (var i = 0; i < chunks.Count;)
            {
                var chunk = chunks[i];
                if (packed && chunk.Stored.Length <= PackedChunkLimits.MaxChunkBytes)
                {
                    pack ??= ArrayPool<byte>.Shared.Rent(MaxPackedDataBytes);
                    i = await WritePackedAsync(call.RequestStream, chunks, i, pack, tables, ct).ConfigureAwait(false);
                    continue;
                }

                await call.RequestStream.WriteAsync(new PutChunkRequest { Header = Header(chunk) }, ct).ConfigureAwait(false);
                for (var offset = 0; offset < chunk.Stored.Length; offset += FrameSize)
                {
                    var frame = chunk.Stored.Slice(offset, Math.Min(FrameSize, chunk.Stored.Length - offset));
                    await call.RequestStream.WriteAsync(new PutChunkRequest { Data = UnsafeByteOperations.UnsafeWrap(frame) }, ct).ConfigureAwait(false);
                }

                i++;
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var response = await call.ResponseAsync.ConfigureAwait(false);
            if (response.Results.Count != chunks.Count)
            {
                throw new DropboxException(ErrorKind.Unavailable, $"The storage node at {grpcUrl} acknowledged {response.Results.Count} of {chunks.Count} chunk(s); they will be sent again.");
            }

            // A node answers each chunk in the order sent; an answer naming another chunk acknowledges nothing of this one.
            for (var r = 0; r < chunks.Count; r++)
            {
                if (!ChunkId.TryRead(response.Results[r].ChunkId.Span, out var acknowledged) || acknowledged != chunks[r].Id)
                {
                    throw new DropboxException(ErrorKind.Unavailable, $"The storage node at {grpcUrl} answered chunk #{r} ({chunks[r].Id.ToShortString()}) with another chunk's id; the call's chunks will be sent again.");
                }
            }

            if (response.PackedAccepted)
            {
                _packedAnswered.TryAdd(grpcUrl, true);
                _plainNodes.TryRemove(grpcUrl, out _);
            }
            else
            {
                _plainNodes.TryAdd(grpcUrl, true);
            }

            if (response.TokenTableAccepted)
            {
                _tableNodes.TryAdd(grpcUrl, true);
            }
            else
            {
                _tableNodes.TryRemove(grpcUrl, out _);
            }
        }
        catch (RpcException e)
        {
            throw RemoteErrors.Translate($"Uploading {chunks.Count} chunk(s) to {grpcUrl}", e, ct);
        }
        finally
        {
            if (pack is not null)
            {
                ArrayPool<byte>.Shared.Return(pack);
            }
        }
    }

    /// <summary>
    /// Writes chunks from <paramref name="start"/> on as one packed message (each at most <see cref="PackedChunkLimits.MaxChunkBytes"/>,
    /// together at most <see cref="MaxPackedDataBytes"/>, <see cref="MaxPackedChunks"/> and <see cref="MaxPackedHeaderChars"/>
    /// of tokens) and answers the index of the first chunk not in it. <paramref name="table"/>: in the compact form, each
    /// token listed once and named by index (so only distinct tokens count toward the limit).
    /// </summary>
    private static async Task<int> WritePackedAsync(IClientStreamWriter<PutChunkRequest> stream, IReadOnlyList<OutgoingChunk> chunks, int start, byte[] pack, bool table, CancellationToken ct)
    {
        var packed = new PackedChunks();
        var listed = table ? new Dictionary<string, uint>(StringComparer.Ordinal) : null;
        var filled = 0;
        var tokenChars = 0;
        var i = start;
        while (i < chunks.Count && packed.Headers.Count < MaxPackedChunks)
        {
            var chunk = chunks[i];
            var length = chunk.Stored.Length;
            var index = 0u;
            var newToken = listed is null || !listed.TryGetValue(chunk.Token, out index);
            var tokenCost = newToken ? chunk.Token.Length : 0;
            if (length > PackedChunkLimits.MaxChunkBytes || filled + length > MaxPackedDataBytes || (packed.Headers.Count > 0 && tokenChars + tokenCost > MaxPackedHeaderChars))
            {
                break;
            }

            chunk.Stored.Span.CopyTo(pack.AsSpan(filled));
            filled += length;
            tokenChars += tokenCost;
            var header = Header(chunk);
            if (listed is not null)
            {
                if (newToken)
                {
                    listed[chunk.Token] = index = (uint)packed.Tokens.Count;
                    packed.Tokens.Add(chunk.Token);
                }

                header.Token = string.Empty;
                header.TokenIndex = index;
            }

            packed.Headers.Add(header);
            i++;
        }

        // The pooled buffer is only lent to the message: the write has serialized it by the time it completes.
        packed.Data = UnsafeByteOperations.UnsafeWrap(pack.AsMemory(0, filled));
        await stream.WriteAsync(new PutChunkRequest { Packed = packed }, ct).ConfigureAwait(false);
        return i;
    }

    private static ChunkHeader Header(OutgoingChunk chunk) => new()
    {
        ChunkId = chunk.Id.ToByteString(),
        Encoding = (Shared.Protos.Common.ChunkEncoding)chunk.Encoding,
        PlainSize = (uint)chunk.PlainSize,
        StoredSize = (uint)chunk.Stored.Length,
        Token = chunk.Token,
    };

    /// <summary>Whether the next call to the node at a gRPC URL packs small chunks (false once it refused them or answered without packed_accepted).</summary>
    internal bool SendsPacked(string grpcUrl) => !_plainNodes.ContainsKey(grpcUrl);

    /// <summary>Whether the next packed message to the node at a gRPC URL lists its put tokens once (its last answer said it takes that).</summary>
    internal bool SendsTokenTables(string grpcUrl) => _tableNodes.ContainsKey(grpcUrl);

    public async Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct)
    {
        var request = new GetChunksRequest { Token = token, AcceptLz4 = true };
        foreach (var id in ids)
        {
            request.ChunkIds.Add(id.ToByteString());
        }

        var result = new List<IncomingChunk>(ids.Count);
        ChunkHeader? header = null;
        ChunkBuffer? buffer = null;
        var filled = 0;
        using var stall = new StallWatch(ct);
        try
        {
            using var call = _channels.Get(grpcUrl).CreateCallInvoker().AsyncServerStreamingCall(ChunkFrame.GetChunksMethod, null, new CallOptions(cancellationToken: stall.Token), request);
            await foreach (var part in call.ResponseStream.ReadAllAsync(stall.Token).ConfigureAwait(false))
            {
                stall.Progress();
                var data = part.Data;
                try
                {
                    if (part.Header is not null)
                    {
                        Finish();
                        header = part.Header;
                        if (header.StoredSize > MaxStoredChunkBytes)
                        {
                            throw new DropboxException(ErrorKind.DataLoss, $"Storage node {grpcUrl} announced a chunk of {header.StoredSize} bytes; chunks are at most {MaxStoredChunkBytes}.");
                        }

                        filled = 0;
                    }
                    else if (data is not null)
                    {
                        if (header is null || filled + data.Length > header.StoredSize)
                        {
                            throw new DropboxException(ErrorKind.DataLoss, $"Storage node {grpcUrl} sent chunk data that does not match its header.");
                        }

                        var length = data.Length;
                        if (buffer is null && length == header.StoredSize)
                        {
                            // The whole chunk in one frame (the usual case): its pooled frame buffer becomes the
                            // chunk's, without a second copy.
                            buffer = data;
                            data = null;
                        }
                        else
                        {
                            buffer ??= ChunkBuffer.Rent((int)header.StoredSize);
                            data.Span.CopyTo(buffer.Span[filled..]);
                        }

                        filled += length;
                    }
                }
                finally
                {
                    data?.Dispose();
                }
            }

            Finish();
            var done = result;
            result = [];
            return done;
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException && stall.Stalled)
        {
            throw StallWatch.Error($"Downloading {ids.Count} chunk(s) from {grpcUrl}", e);
        }
        catch (RpcException e)
        {
            throw RemoteErrors.Translate($"Downloading {ids.Count} chunk(s) from {grpcUrl}", e, ct);
        }
        finally
        {
            // Only on failure is anything left here: give every pooled buffer back.
            buffer?.Dispose();
            foreach (var chunk in result)
            {
                chunk.Dispose();
            }
        }

        void Finish()
        {
            if (header is null)
            {
                return;
            }

            // A chunk of zero bytes has no data frame.
            buffer ??= header.StoredSize == 0 ? ChunkBuffer.Rent(0) : null;
            if (buffer is null || filled != header.StoredSize)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"Storage node {grpcUrl} sent {filled} of {header.StoredSize} bytes of chunk {header.ChunkId.ToChunkId().ToShortString()}.");
            }

            result.Add(new IncomingChunk(header.ChunkId.ToChunkId(), (ChunkEncoding)header.Encoding, (int)header.PlainSize, buffer));
            header = null;
            buffer = null;
        }
    }
}
