namespace Dropbox.StorageNode;

/// <summary>The URLs the node actually listens on, known once Kestrel has bound (port 0 resolved).</summary>
public sealed class NodeAddresses
{
    private readonly TaskCompletionSource<(string Grpc, string Http)> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with (gRPC URL, HTTP URL) once the server is listening.</summary>
    public Task<(string Grpc, string Http)> WhenBound => _bound.Task;

    /// <summary>The gRPC URL (throws before the server has started).</summary>
    public string GrpcUrl => _bound.Task.IsCompletedSuccessfully ? _bound.Task.Result.Grpc : throw new InvalidOperationException("The node has not started listening yet.");

    /// <summary>The HTTP URL (throws before the server has started).</summary>
    public string HttpUrl => _bound.Task.IsCompletedSuccessfully ? _bound.Task.Result.Http : throw new InvalidOperationException("The node has not started listening yet.");

    internal void SetBound(string grpc, string http) => _bound.TrySetResult((grpc, http));

    internal void SetFailed(Exception ex) => _bound.TrySetException(ex);
}
