using Dropbox.MetadataNode.Storage;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// File links (<c>link PATH</c>): one expiring URL on a storage node that serves a whole version of a file. The metadata
/// node signs what the link grants and, when a storage node serves it, answers that node's plan pages; the bytes go
/// from the storage nodes to the browser.
/// </summary>
internal sealed partial class MetadataStore
{
    private FileLinkTokenService? _links;

    private FileLinkTokenService Links => _links ??= _tokens.FileLinks();

    /// <summary>
    /// Signs a link to <paramref name="version"/> (0: the current one) of <paramref name="path"/>, lasting
    /// <paramref name="lifetime"/> (zero: <see cref="FileLinkTokenService.DefaultLifetime"/>), on a live storage node that
    /// holds the file's first chunk (any live node for an empty file).
    /// </summary>
    public IssuedLink CreateLink(UserInfo user, string? path, ulong version, TimeSpan lifetime)
    {
        if (lifetime < TimeSpan.Zero || lifetime > FileLinkTokenService.MaxLifetime)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"A link may last at most {FileLinkTokenService.MaxLifetime.TotalSeconds:0} seconds (7 days); asked for {lifetime.TotalSeconds:0}.");
        }

        var ns = Namespace(user);
        var normalized = PathGuard.Normalize(path);

        // The first chunk's holders, live ones first; the entry names the concrete version the link will serve.
        var first = _plans.GetDownloadPlan(ns, normalized, version, 0, 1);
        var entry = first.Entry;
        // A draining holder only when no other serves (its copies are on their way out); one being forgotten never.
        var holders = first.Chunks.Count > 0 ? first.Chunks[0].Holders : [];
        var node = holders.FirstOrDefault(n => IsServing(n.NodeId, draining: false)) ?? holders.FirstOrDefault(n => IsServing(n.NodeId, draining: true));
        var url = node?.HttpUrl ?? _nodeRegistry.LiveNodes()
            .Where(n => !string.IsNullOrEmpty(n.HttpUrl) && !_nodeRegistry.IsBeingForgotten(n.NodeId))
            .OrderBy(n => n.Draining).ThenBy(n => n.NodeId, StringComparer.Ordinal).Select(n => n.HttpUrl).FirstOrDefault();
        if (string.IsNullOrEmpty(url))
        {
            throw new DropboxException(ErrorKind.Unavailable, "No storage node is live to serve a link; try again when one is.");
        }

        var epoch = _accounts.LinkEpoch(ns.Record.Owner, ns.Id);
        var token = Links.Issue(ns.Id, normalized, entry.Version, lifetime == TimeSpan.Zero ? FileLinkTokenService.DefaultLifetime : lifetime, epoch, out var expires);
        var name = normalized[(normalized.LastIndexOf('/') + 1)..];
        return new IssuedLink($"{url.TrimEnd('/')}/l/{token}/{Uri.EscapeDataString(name)}", expires, entry);
    }

    /// <summary>
    /// A page of the download plan of the version a link names, for the storage node serving it: the link must verify
    /// and be unexpired and of its owner's current link epoch (else UNAUTHENTICATED: the owner's token was rotated since);
    /// a removed account, a deleted file or a version retention dropped is NOT_FOUND.
    /// </summary>
    public Task<DownloadPlan> ResolveLinkAsync(string? linkToken, uint offset, uint limit, CancellationToken cancellationToken)
    {
        var link = Links.Read(linkToken);
        Links.EnsureUnexpired(link);
        if (limit == 0 || limit > Limits.MaxDownloadPlanPage)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"limit must be 1..{Limits.MaxDownloadPlanPage}; got {limit}.");
        }

        if (!_namespaces.TryGetValue(link.Namespace, out var ns))
        {
            throw new DropboxException(ErrorKind.NotFound, "The account this link belongs to no longer exists.");
        }

        if (_accounts.LinkEpoch(ns.Record.Owner, ns.Id) != link.Epoch)
        {
            throw new DropboxException(ErrorKind.Unauthenticated, "Revoked link: its owner's token was rotated since it was made; ask for a new one with 'link PATH'.");
        }

        // A deleted file's links stop with it, though retention may still keep the version they name, and stay stopped
        // when a file is made at that path again: any delete after the linked version revokes the link.
        if (_engine.Get(Keys.File(ns.Id, link.Path), _engine.Files) is not { } current || StoredFormat.ReadFile(current).Current.Deleted
            || DeletedSince(ns.Id, link.Path, link.Version))
        {
            throw new DropboxException(ErrorKind.NotFound, "The file this link names was deleted.");
        }

        return _plans.GetDownloadPlanAsync(ns, link.Path, link.Version, offset, limit, cancellationToken);
    }

    /// <summary>Whether a retained version of <paramref name="path"/> after <paramref name="version"/> is a delete.</summary>
    private bool DeletedSince(string ns, string path, ulong version)
    {
        foreach (var (_, value) in _engine.ScanPrefix(_engine.Versions, Keys.VersionPrefix(ns, path), Keys.Version(ns, path, version + 1)))
        {
            if (StoredFormat.ReadVersion(value).Deleted)
            {
                return true;
            }
        }

        return false;
    }

    private bool IsServing(string nodeId, bool draining) =>
        _nodeRegistry.TryGet(nodeId, out var record) && _nodeRegistry.IsLive(record) && !string.IsNullOrEmpty(record.HttpUrl)
        && (draining || !record.Draining) && !_nodeRegistry.IsBeingForgotten(nodeId);
}
