namespace Dropbox.Shared.Errors;

/// <summary>What went wrong, in the terms a caller can act on. Maps 1:1 to gRPC and HTTP status.</summary>
public enum ErrorKind
{
    /// <summary>The request itself is malformed (bad path, size, id...). Fix the request.</summary>
    InvalidArgument,

    /// <summary>The thing named does not exist.</summary>
    NotFound,

    /// <summary>The thing already exists.</summary>
    AlreadyExists,

    /// <summary>Caller is known but not allowed (wrong node, chunk, operation, namespace).</summary>
    PermissionDenied,

    /// <summary>No, expired or forged credentials.</summary>
    Unauthenticated,

    /// <summary>State moved on (stale base version, unknown cursor...). Re-read and retry.</summary>
    Conflict,

    /// <summary>Bytes do not hash to their id: corrupt or tampered data.</summary>
    DataLoss,

    /// <summary>Out of space or over a limit.</summary>
    ResourceExhausted,

    /// <summary>A dependency (node) is not reachable right now; retry later.</summary>
    Unavailable,

    /// <summary>A bug or an unexpected failure.</summary>
    Internal,
}
