using Prometheus;

namespace Dropbox.Hosting;

/// <summary>
/// One node's metrics: its own Prometheus registry (so two nodes in one process, as in <c>standalone</c> and in tests,
/// never mix their numbers), the .NET process and runtime collectors, and the per-gRPC-method request metrics. Node
/// specific metrics are created through <see cref="Factory"/>. Increments are lock-free (prometheus-net keeps each
/// value in an interlocked double), so they are cheap on the hot path.
/// </summary>
public sealed class NodeMetrics
{
    /// <summary>Creates a registry with the process and .NET runtime collectors and the gRPC request metrics.</summary>
    public NodeMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        Factory = Metrics.WithCustomRegistry(Registry);
        GrpcHandled = Factory.CreateCounter(
            "dropbox_grpc_server_handled_total",
            "gRPC calls completed, by method and status code.",
            ["method", "code"]);
        GrpcDuration = Factory.CreateHistogram(
            "dropbox_grpc_server_handling_seconds",
            "Time from the start of a gRPC call to its end, by method.",
            ["method"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 18) });
    }

    /// <summary>The registry served on <c>/metrics</c>.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Creates metrics in <see cref="Registry"/>.</summary>
    public IMetricFactory Factory { get; }

    /// <summary><c>dropbox_grpc_server_handled_total{method,code}</c>.</summary>
    public Counter GrpcHandled { get; }

    /// <summary><c>dropbox_grpc_server_handling_seconds{method}</c>.</summary>
    public Histogram GrpcDuration { get; }
}
