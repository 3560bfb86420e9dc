using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Commits and what they rest on: the nodes' "chunk stored" reports, and commits (every chunk confirmed, else refused
/// naming the missing ids; a stale base is a conflict; quotas). Plans are <see cref="UploadPlanner"/>'s; a commit's new
/// version is made by <see cref="NamespaceFiles"/>.
/// </summary>
internal sealed partial class UploadCommit
{
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly ConcurrentDictionary<string, NamespaceState> _namespaces;
    private readonly NodeRegistry _nodeRegistry;
    private readonly NamespaceFiles _files;
    private readonly ChunkTokenService _tokens;
    private readonly NodePresenceBatcher _presence;
    private readonly MetadataNodeOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly ChangeSignal _eventsSignal = new();

    public UploadCommit(
        RocksEngine engine,
        StoreTransactions transactions,
        ConcurrentDictionary<string, NamespaceState> namespaces,
        NodeRegistry nodes,
        NamespaceFiles files,
        ChunkTokenService tokens,
        IStorageNodeGateway gateway,
        MetadataNodeOptions options,
        ILogger logger)
    {
        _engine = engine;
        _transactions = transactions;
        _namespaces = namespaces;
        _nodeRegistry = nodes;
        _files = files;
        _tokens = tokens;
        _presence = new NodePresenceBatcher(gateway, logger, Limits.MaxIdsPerNodeCall);
        _options = options;
        _clock = options.Clock;
        _logger = logger;
    }

    /// <summary>The nodes' HasChunks calls, shared among concurrent commits (tests count them).</summary>
    internal NodePresenceBatcher Presence => _presence;

    private long NowMs => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The state of the user's namespace; NotFound if it is missing.</summary>
    internal NamespaceState Namespace(UserInfo user) => Namespace(_namespaces, user);

    /// <summary>The state of the user's namespace in <paramref name="namespaces"/>; NotFound if it is missing.</summary>
    internal static NamespaceState Namespace(ConcurrentDictionary<string, NamespaceState> namespaces, UserInfo user) =>
        namespaces.TryGetValue(user.Namespace.Value, out var ns)
            ? ns
            : throw new DropboxException(ErrorKind.NotFound, $"Namespace {user.Namespace} of user '{user.Name}' is missing.");
}
