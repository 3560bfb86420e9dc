using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>An authenticated user, the namespace they own, and whether they may call the admin API.</summary>
internal sealed record UserInfo(string Name, NamespaceId Namespace, bool IsAdmin = false);
