using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Dropbox.Hosting;

/// <summary>
/// Counts every gRPC call by method and status code, times it, and logs a failed call at information level (a
/// cancelled one is not a failure). Registered before the error mapping interceptor, so it sees the final status.
/// </summary>
public sealed partial class GrpcMetricsInterceptor : Interceptor
{
    private readonly NodeMetrics _metrics;
    private readonly ILogger<GrpcMetricsInterceptor> _logger;
    private readonly ConcurrentDictionary<string, Histogram.Child> _durations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Method, StatusCode Code), Counter.Child> _handled = new();

    /// <summary>Creates the interceptor over a node's metrics.</summary>
    public GrpcMetricsInterceptor(NodeMetrics metrics, ILogger<GrpcMetricsInterceptor> logger)
    {
        _metrics = metrics;
        _logger = logger;
    }

    /// <inheritdoc />
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var response = await continuation(request, context).ConfigureAwait(false);
            Record(context, started, null);
            return response;
        }
        catch (Exception ex)
        {
            Record(context, started, ex);
            throw;
        }
    }

    /// <inheritdoc />
    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var response = await continuation(requestStream, context).ConfigureAwait(false);
            Record(context, started, null);
            return response;
        }
        catch (Exception ex)
        {
            Record(context, started, ex);
            throw;
        }
    }

    /// <inheritdoc />
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
            Record(context, started, null);
        }
        catch (Exception ex)
        {
            Record(context, started, ex);
            throw;
        }
    }

    /// <inheritdoc />
    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
            Record(context, started, null);
        }
        catch (Exception ex)
        {
            Record(context, started, ex);
            throw;
        }
    }

    private void Record(ServerCallContext context, long started, Exception? exception)
    {
        var method = context.Method;
        var code = exception switch
        {
            null => context.Status.StatusCode,
            RpcException rpc => rpc.StatusCode,
            OperationCanceledException => StatusCode.Cancelled,
            _ => StatusCode.Unknown,
        };
        _durations.GetOrAdd(method, static (m, metrics) => metrics.GrpcDuration.WithLabels(m), _metrics)
            .Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        _handled.GetOrAdd((method, code), static (key, metrics) => metrics.GrpcHandled.WithLabels(key.Method, key.Code.ToString()), _metrics)
            .Inc();
        if (code is not (StatusCode.OK or StatusCode.Cancelled))
        {
            Log.CallFailed(_logger, method, code, exception is RpcException rpc ? rpc.Status.Detail : exception?.Message ?? context.Status.Detail);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "gRPC {Method} failed: {Code}: {Detail}")]
        public static partial void CallFailed(ILogger logger, string method, StatusCode code, string detail);
    }
}
