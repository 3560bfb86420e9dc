namespace Dropbox.MetadataNode.Domain;

/// <summary>An account's totals and its change cursor at the head.</summary>
internal sealed record AccountSummary(string User, string NamespaceId, ulong FileCount, ulong TotalBytes, string Cursor);
