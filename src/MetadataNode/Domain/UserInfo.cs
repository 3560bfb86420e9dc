using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>An authenticated user and the namespace they own.</summary>
internal sealed record UserInfo(string Name, NamespaceId Namespace);
