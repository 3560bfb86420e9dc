using Dropbox.Shared.Errors;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>A durable log holds records this build cannot read (a newer format, another record type).</summary>
public sealed class LogFormatException : DropboxException
{
    /// <summary>Creates the error; the message says which file, where, and what to do.</summary>
    public LogFormatException(string message)
        : base(ErrorKind.Internal, message)
    {
    }
}
