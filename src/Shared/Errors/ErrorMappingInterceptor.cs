using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace Dropbox.Shared.Errors;

/// <summary>
/// Server interceptor that maps <see cref="DropboxException"/> to a status, and logs only what is unexpected
/// (a cancelled call is not an error).
/// </summary>
public sealed partial class ErrorMappingInterceptor : Interceptor
{
    private readonly ILogger<ErrorMappingInterceptor> _logger;

    /// <summary>Creates the interceptor.</summary>
    public ErrorMappingInterceptor(ILogger<ErrorMappingInterceptor> logger) => _logger = logger;

    /// <inheritdoc />
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc />
    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context).ConfigureAwait(false);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc />
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc />
    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    private RpcException? Map(Exception ex, ServerCallContext context)
    {
        switch (ex)
        {
            case RpcException:
                return null;
            case DropboxException dex:
                if (dex.Kind == ErrorKind.Internal)
                {
                    Log.UnexpectedError(_logger, context.Method, dex);
                }

                return GrpcErrorMapping.ToRpcException(dex);
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                return new RpcException(new Status(StatusCode.Cancelled, "The call was cancelled."));
            default:
                Log.UnexpectedError(_logger, context.Method, ex);
                return new RpcException(new Status(StatusCode.Internal, GrpcErrorMapping.BoundDetail($"Internal error in {context.Method}: {ex.GetType().Name}: {ex.Message}")));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1000, Level = LogLevel.Error, Message = "Unexpected error in {Method}")]
        public static partial void UnexpectedError(ILogger logger, string method, Exception exception);
    }
}
