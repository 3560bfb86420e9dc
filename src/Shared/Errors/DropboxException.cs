namespace Dropbox.Shared.Errors;

/// <summary>
/// The one exception type the domain throws on purpose. Its message says what was wrong and what to do;
/// <see cref="GrpcErrorMapping"/> turns it into a status code in one place.
/// </summary>
public class DropboxException : Exception
{
    /// <summary>Creates an error of a kind with a message for the caller.</summary>
    public DropboxException(ErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
    }

    /// <summary>What went wrong.</summary>
    public ErrorKind Kind { get; }

    /// <summary>Extra trailers to send with a gRPC error (e.g. current-version on a conflict).</summary>
    public IDictionary<string, string> Details { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Adds a detail and returns this exception, for throw expressions.</summary>
    public DropboxException WithDetail(string key, string value)
    {
        Details[key] = value;
        return this;
    }
}
