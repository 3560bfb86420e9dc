using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Prometheus;

namespace Dropbox.Hosting;

/// <summary>
/// What every node serves for operators, wired the same way on both node kinds: <c>/metrics</c> (Prometheus text, the
/// node's own registry; only through the <see cref="OperatorListener"/>, not found elsewhere), <c>/readyz</c> (ASP.NET Core health checks: 200 "ready", else 503 with the reasons), request
/// metrics per HTTP route and one log line per request (no query string, so no presigned token in the logs).
/// </summary>
public static class NodeObservability
{
    /// <summary>Path of the Prometheus scrape endpoint.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>Path of the readiness probe.</summary>
    public const string ReadyPath = "/readyz";

    /// <summary>Path of the liveness probe.</summary>
    public const string HealthPath = "/healthz";

    /// <summary>Registers <see cref="NodeMetrics"/>, request logging and health checks; add readiness checks to the result.</summary>
    public static IHealthChecksBuilder AddNodeObservability(this IServiceCollection services)
    {
        services.AddSingleton<NodeMetrics>();
        // A host that configures its operator listener registers its own instance first.
        services.TryAddSingleton<OperatorListener>();
        services.AddSingleton<HttpRequestMetrics>();
        return services.AddHealthChecks();
    }

    /// <summary>
    /// Adds request logging and metrics to the pipeline and maps <c>/metrics</c> (answered only through the
    /// <see cref="OperatorListener"/>) and <c>/readyz</c>.
    /// </summary>
    public static void UseNodeObservability(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var metrics = app.Services.GetRequiredService<NodeMetrics>();
        var requests = app.Services.GetRequiredService<HttpRequestMetrics>();
        var operators = app.Services.GetRequiredService<OperatorListener>();
        app.Use(requests.InvokeAsync);
        app.Use((context, next) =>
        {
            if (context.Request.Path.StartsWithSegments(MetricsPath, StringComparison.OrdinalIgnoreCase) && !operators.Accepts(context.Connection))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        app.MapMetrics(MetricsPath, metrics.Registry);
        app.MapHealthChecks(ReadyPath, new HealthCheckOptions { ResponseWriter = WriteReadinessAsync });
    }

    private static Task WriteReadinessAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var text = new StringBuilder(report.Status == HealthStatus.Healthy ? "ready\n" : "not ready\n");
        foreach (var (name, entry) in report.Entries)
        {
            text.Append(name).Append(": ").Append(entry.Status).Append(entry.Description is { } d ? $": {d}" : string.Empty).Append('\n');
        }

        return context.Response.WriteAsync(text.ToString(), context.RequestAborted);
    }
}
