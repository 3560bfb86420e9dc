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

    private readonly GrpcChannelCache _channels;

    public GrpcChunkTransfer(GrpcChannelCache channels)
    {
        _channels = channels;
    }

    public async Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct)
    {
        var client = new ChunkStorage.ChunkStorageClient(_channels.Get(grpcUrl));
        try
        {
            using var call = client.PutChunks(cancellationToken: ct);
            foreach (var chunk in chunks)
            {
                await call.RequestStream.WriteAsync(new PutChunkRequest
                {
                    Header = new ChunkHeader
                    {
                        ChunkId = chunk.Id.ToByteString(),
                        Encoding = (Shared.Protos.Common.ChunkEncoding)chunk.Encoding,
                        PlainSize = (uint)chunk.PlainSize,
                        StoredSize = (uint)chunk.Stored.Length,
                        Token = chunk.Token,
                    },
                }, ct).ConfigureAwait(false);
                for (var offset = 0; offset < chunk.Stored.Length; offset += FrameSize)
                {
                    var frame = chunk.Stored.Slice(offset, Math.Min(FrameSize, chunk.Stored.Length - offset));
                    await call.RequestStream.WriteAsync(new PutChunkRequest { Data = UnsafeByteOperations.UnsafeWrap(frame) }, ct).ConfigureAwait(false);
                }
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var response = await call.ResponseAsync.ConfigureAwait(false);
            if (response.Results.Count != chunks.Count)
            {
                throw new DropboxException(ErrorKind.Unavailable, $"The storage node at {grpcUrl} acknowledged {response.Results.Count} of {chunks.Count} chunk(s); they will be sent again.");
            }
        }
        catch (RpcException e)
        {
            throw RemoteErrors.Translate($"Uploading {chunks.Count} chunk(s) to {grpcUrl}", e, ct);
        }
    }

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
