namespace Dropbox.MetadataNode.Domain;

/// <summary>One change in a namespace's log, at its sequence number.</summary>
/// <param name="Sequence">The namespace sequence (equal to the entry's version).</param>
/// <param name="Kind">What the change did.</param>
/// <param name="Entry">The path's new version (the tombstone for a delete; the entry at the new path for a move).</param>
/// <param name="OldPath">For a move, the path it left; otherwise empty.</param>
internal sealed record ChangeEntry(ulong Sequence, ChangeType Kind, PathEntry? Entry, string OldPath = "");
