namespace Dropbox.MetadataNode.Domain;

/// <summary>Changes after a cursor, in sequence order, and the cursor to continue from.</summary>
/// <param name="Changes">None skipped, none repeated.</param>
/// <param name="Cursor">Pass back to continue after the last change.</param>
/// <param name="HasMore">More changes follow at once (the page was full).</param>
internal sealed record ChangePage(IReadOnlyList<ChangeEntry> Changes, string Cursor, bool HasMore);
