using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;
using Grpc.Core;

namespace Dropbox.MetadataNode.Services;

/// <summary>Reads "authorization: Bearer ..." from a call: a user token (sync API) or a system token (cluster API).</summary>
internal sealed class CallAuthenticator
{
    /// <summary>The node id the metadata node answers to in system tokens.</summary>
    public const string MetadataNodeId = "metadata";

    private readonly MetadataStore _store;
    private readonly ChunkTokenService _tokens;

    public CallAuthenticator(MetadataStore store, ChunkTokenService tokens)
    {
        _store = store;
        _tokens = tokens;
    }

    public UserInfo User(ServerCallContext context) => _store.Authenticate(Bearer(context));

    /// <summary>The calling user if they are an admin; PermissionDenied for any other user.</summary>
    public UserInfo Admin(ServerCallContext context)
    {
        var user = User(context);
        return user.IsAdmin
            ? user
            : throw new DropboxException(ErrorKind.PermissionDenied, $"The admin API needs an admin's token; user '{user.Name}' is not an admin.");
    }

    public void System(ServerCallContext context)
    {
        var token = _tokens.Validate(Bearer(context), TokenOperation.System, MetadataNodeId);
        if (!string.Equals(token.Namespace, NamespaceId.SystemValue, StringComparison.Ordinal))
        {
            throw new DropboxException(ErrorKind.PermissionDenied, "A cluster call needs a system token.");
        }
    }

    /// <summary>
    /// Checks a storage node's report about itself: the call needs a report token (<see cref="TokenOperation.NodeReport"/>)
    /// issued by <paramref name="reportingNode"/>, the node the request names; a node may not report another node's
    /// copies (PermissionDenied).
    /// </summary>
    public void NodeReport(ServerCallContext context, string reportingNode)
    {
        var token = _tokens.Validate(Bearer(context), TokenOperation.NodeReport, MetadataNodeId);
        if (!string.Equals(token.Namespace, reportingNode, StringComparison.Ordinal))
        {
            throw new DropboxException(ErrorKind.PermissionDenied, $"A node reports only its own chunks: the token was issued by node '{token.Namespace}', the report names node '{reportingNode}'.");
        }
    }

    private static string? Bearer(ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue("authorization");
        if (header is null)
        {
            return null;
        }

        const string prefix = "Bearer ";
        return header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? header[prefix.Length..].Trim() : null;
    }
}
