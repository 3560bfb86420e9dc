namespace Dropbox.MetadataNode.Domain;

/// <summary>A page of entries under a folder, in path order (UTF-8 bytes).</summary>
/// <param name="Entries">The entries of this page.</param>
/// <param name="Cursor">The change cursor at the moment of this page.</param>
/// <param name="HasMore">More entries follow the last one of this page.</param>
internal sealed record FileListing(IReadOnlyList<PathEntry> Entries, string Cursor, bool HasMore);
