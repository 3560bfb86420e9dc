using Dropbox.Shared.Errors;
using Grpc.Core;

namespace Dropbox.SyncClient.Remote;

/// <summary>Turns gRPC failures into <see cref="DropboxException"/>s that keep the server's message and trailers.</summary>
internal static class RemoteErrors
{
    /// <summary>Trailer with the server's current version of a path (on a conflict).</summary>
    public const string CurrentVersion = "current-version";

    /// <summary>Trailer listing chunk ids a refused commit is missing.</summary>
    public const string MissingChunks = "missing-chunks";

    public static async Task<T> CallAsync<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw Translate(what, e);
        }
    }

    public static DropboxException Translate(string what, RpcException e)
    {
        if (e.StatusCode == StatusCode.Cancelled)
        {
            throw new OperationCanceledException($"{what} was cancelled.", e);
        }

        // A refused server certificate: the trust check's own message (expected and presented fingerprint) sits
        // inside the failed connection's exception chain.
        for (var inner = e.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is DropboxException refused)
            {
                return new DropboxException(refused.Kind, $"{what}: {refused.Message}", e);
            }
        }

        var kind = GrpcErrorMapping.FromStatusCode(e.StatusCode);
        var message = e.StatusCode == StatusCode.Unavailable
            ? $"{what}: the server is not reachable ({e.Status.Detail}). Check that it is running and the URL is right."
            : $"{what}: {e.Status.Detail}";
        var ex = new DropboxException(kind, message, e);
        foreach (var entry in e.Trailers)
        {
            if (!entry.IsBinary)
            {
                ex.Details[entry.Key] = entry.Value;
            }
        }

        return ex;
    }

    /// <summary>True when a cursor must be thrown away and the state listed again.</summary>
    public static bool IsCursorReset(DropboxException e) =>
        e.Kind is ErrorKind.InvalidArgument or ErrorKind.Conflict && e.Message.Contains("reset", StringComparison.OrdinalIgnoreCase);
}
