namespace Dropbox.MetadataNode.Domain;

/// <summary>A user as the admin API shows it.</summary>
internal sealed record UserDetails(string Name, string NamespaceId, bool Admin, ulong QuotaBytes, ulong UsedBytes, ulong FileCount);
