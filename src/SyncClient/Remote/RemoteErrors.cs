using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Grpc.Core;

namespace Dropbox.SyncClient.Remote;

/// <summary>Turns gRPC failures into <see cref="DropboxException"/>s that keep the server's message and trailers.</summary>
internal static class RemoteErrors
{
    /// <summary>Trailer with the server's current version of a path (on a conflict).</summary>
    public const string CurrentVersion = "current-version";

    /// <summary>Trailer listing chunk ids a refused commit is missing.</summary>
    public const string MissingChunks = "missing-chunks";

    /// <summary>Most characters of a server's error detail kept in a message.</summary>
    public const int MaxDetail = 2000;

    /// <summary>Runs <paramref name="call"/>, made with <paramref name="ct"/>, and translates its failure (see <see cref="Translate"/>).</summary>
    public static async Task<T> CallAsync<T>(string what, CancellationToken ct, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw Translate(what, e, ct);
        }
    }

    /// <summary>
    /// The <see cref="DropboxException"/> for a failed call made with <paramref name="ct"/>. A CANCELLED status is an
    /// <see cref="OperationCanceledException"/> only when <paramref name="ct"/> asked for it; otherwise the server (a
    /// restarting one, or a proxy's HTTP/2 CANCEL) ended the call, which is Unavailable: retried like any outage.
    /// </summary>
    public static DropboxException Translate(string what, RpcException e, CancellationToken ct)
    {
        if (e.StatusCode == StatusCode.Cancelled)
        {
            if (ct.IsCancellationRequested)
            {
                throw new OperationCanceledException($"{what} was cancelled.", e, ct);
            }

            return new DropboxException(ErrorKind.Unavailable, $"{what}: the server cancelled the call ({SyncPaths.Display(e.Status.Detail, MaxDetail)}); it will be tried again.", e);
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
        // The detail is the server's text: control characters escaped (it ends up in terminals, logs and summaries)
        // and its length bounded.
        var detail = SyncPaths.Display(e.Status.Detail, MaxDetail);
        var message = e.StatusCode switch
        {
            StatusCode.Unavailable => $"{what}: the server is not reachable ({detail}). Check that it is running and the URL is right.",
            // Maps to Unavailable (retryable): the call may or may not have taken effect; the next pass plans again from what the server holds.
            StatusCode.DeadlineExceeded => $"{what}: the server did not answer in time ({detail}); it will be tried again.",
            _ => $"{what}: {detail}",
        };
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

    /// <summary>True when the server does not have the call (an older metadata node): UNIMPLEMENTED.</summary>
    public static bool IsUnimplemented(DropboxException e) => e.InnerException is RpcException { StatusCode: StatusCode.Unimplemented };

    /// <summary>True when a cursor must be thrown away and the state listed again.</summary>
    public static bool IsCursorReset(DropboxException e) =>
        e.Kind is ErrorKind.InvalidArgument or ErrorKind.Conflict && e.Message.Contains("reset", StringComparison.OrdinalIgnoreCase);
}
