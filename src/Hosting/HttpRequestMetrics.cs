using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Dropbox.Hosting;

/// <summary>
/// Request count and latency per HTTP route, method and status code, for the requests that are not gRPC (gRPC calls
/// are counted per method by <see cref="GrpcMetricsInterceptor"/>), and one information-level log line per request,
/// gRPC included (method, path without its query, so no presigned token, and with a file link's token replaced by
/// <c>-</c>, protocol, status, duration). Leaner than
/// prometheus-net's HttpMetrics middleware and ASP.NET Core's HttpLogging, measured at ~60-90 µs and ~100 µs of node
/// CPU per request (Debug build): here one cached lookup, one counter increment, one histogram observation and a
/// source-generated log call. Labels are bounded: the route pattern (or "unmatched"), a known method (else "OTHER")
/// and the status code.
/// </summary>
public sealed partial class HttpRequestMetrics
{
    private readonly Counter _requests;
    private readonly Histogram _duration;
    private readonly ConcurrentDictionary<(string Route, string Method, int Code), (Counter.Child Count, Histogram.Child Duration)> _children = new();
    private readonly ILogger<HttpRequestMetrics> _logger;

    /// <summary>Creates the metrics in a node's registry.</summary>
    public HttpRequestMetrics(NodeMetrics metrics, ILogger<HttpRequestMetrics> logger)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        _logger = logger;
        _requests = metrics.Factory.CreateCounter("dropbox_http_requests_total", "HTTP requests (not gRPC) completed, by route, method and status code.", ["route", "method", "code"]);
        _duration = metrics.Factory.CreateHistogram(
            "dropbox_http_request_duration_seconds",
            "Time to serve an HTTP request (not gRPC), by route, method and status code.",
            ["route", "method", "code"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
    }

    /// <summary>The middleware body: times the rest of the pipeline and records the outcome.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (_logger.IsEnabled(LogLevel.Information))
            {
                Log.Request(_logger, context.Request.Method, LoggedPath(context.Request.Path.Value), context.Request.Protocol, context.Response.StatusCode, elapsed.TotalMilliseconds);
            }

            if (context.Request.ContentType is not { } type || !type.StartsWith("application/grpc", StringComparison.Ordinal))
            {
                Record(context, elapsed);
            }
        }
    }

    /// <summary>
    /// The path as logged: a file link's <c>/l/{token}/name</c> with the token (a bearer credential good for days)
    /// replaced by <c>-</c>; any other path as it is.
    /// </summary>
    public static string LoggedPath(string? path)
    {
        if (path is null || !path.StartsWith("/l/", StringComparison.Ordinal))
        {
            return path ?? string.Empty;
        }

        var end = path.IndexOf('/', 3);
        return end < 0 ? "/l/-" : string.Concat("/l/-", path.AsSpan(end));
    }

    private void Record(HttpContext context, TimeSpan elapsed)
    {
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            var method = context.Request.Method switch
            {
                "GET" => "GET",
                "PUT" => "PUT",
                "POST" => "POST",
                "HEAD" => "HEAD",
                "DELETE" => "DELETE",
                _ => "OTHER",
            };
            var child = _children.GetOrAdd(
                (route, method, context.Response.StatusCode),
                static (key, self) =>
                {
                    var code = key.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    return (self._requests.WithLabels(key.Route, key.Method, code), self._duration.WithLabels(key.Route, key.Method, code));
                },
                this);
            child.Count.Inc();
            child.Duration.Observe(elapsed.TotalSeconds);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "HTTP {Method} {Path} {Protocol} -> {StatusCode} in {ElapsedMs:0.0} ms")]
        public static partial void Request(ILogger logger, string method, string path, string protocol, int statusCode, double elapsedMs);
    }
}
