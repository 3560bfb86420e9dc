using Grpc.Core;

namespace Dropbox.Shared.Errors;

/// <summary>The single place where domain errors become gRPC and HTTP status codes, and back.</summary>
public static class GrpcErrorMapping
{
    /// <summary>gRPC status for an error kind.</summary>
    public static StatusCode ToStatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        ErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        ErrorKind.Unauthenticated => StatusCode.Unauthenticated,
        ErrorKind.Conflict => StatusCode.FailedPrecondition,
        ErrorKind.DataLoss => StatusCode.DataLoss,
        ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    /// <summary>HTTP status for an error kind.</summary>
    public static int ToHttpStatus(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => 400,
        ErrorKind.NotFound => 404,
        ErrorKind.AlreadyExists => 409,
        ErrorKind.PermissionDenied => 403,
        ErrorKind.Unauthenticated => 401,
        ErrorKind.Conflict => 409,
        ErrorKind.DataLoss => 422,
        ErrorKind.ResourceExhausted => 507,
        ErrorKind.Unavailable => 503,
        _ => 500,
    };

    /// <summary>Error kind for an HTTP status (client side; the inverse of <see cref="ToHttpStatus"/>).</summary>
    public static ErrorKind FromHttpStatus(int status) => status switch
    {
        400 or 413 => ErrorKind.InvalidArgument,
        401 => ErrorKind.Unauthenticated,
        403 => ErrorKind.PermissionDenied,
        404 => ErrorKind.NotFound,
        409 => ErrorKind.Conflict,
        422 => ErrorKind.DataLoss,
        507 => ErrorKind.ResourceExhausted,
        502 or 503 or 504 => ErrorKind.Unavailable,
        _ => ErrorKind.Internal,
    };

    /// <summary>Error kind for a gRPC status (client side).</summary>
    public static ErrorKind FromStatusCode(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument => ErrorKind.InvalidArgument,
        StatusCode.NotFound => ErrorKind.NotFound,
        StatusCode.AlreadyExists => ErrorKind.AlreadyExists,
        StatusCode.PermissionDenied => ErrorKind.PermissionDenied,
        StatusCode.Unauthenticated => ErrorKind.Unauthenticated,
        StatusCode.FailedPrecondition => ErrorKind.Conflict,
        StatusCode.DataLoss => ErrorKind.DataLoss,
        StatusCode.ResourceExhausted => ErrorKind.ResourceExhausted,
        StatusCode.Unavailable or StatusCode.DeadlineExceeded => ErrorKind.Unavailable,
        _ => ErrorKind.Internal,
    };

    /// <summary>
    /// Longest status message sent, in characters. The message travels percent-encoded in an HTTP/2 header; one that
    /// echoes a huge client value (a 200,000-character node id or URL) passed the client's 64 KiB header limit, and
    /// the client then dropped the whole connection, failing every other call on it.
    /// </summary>
    public const int MaxDetailChars = 1024;

    /// <summary>The RpcException a service should throw for a domain error.</summary>
    public static RpcException ToRpcException(DropboxException ex)
    {
        var trailers = new Metadata();
        foreach (var (key, value) in ex.Details)
        {
            trailers.Add(key, value);
        }

        var detail = BoundDetail(ex.Message);
        return new RpcException(new Status(ToStatusCode(ex.Kind), detail), trailers, detail);
    }

    /// <summary>A status message cut to <see cref="MaxDetailChars"/>, saying how much was cut.</summary>
    public static string BoundDetail(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Length <= MaxDetailChars
            ? message
            : string.Concat(message.AsSpan(0, MaxDetailChars), $"... ({message.Length - MaxDetailChars} more characters)");
    }
}
