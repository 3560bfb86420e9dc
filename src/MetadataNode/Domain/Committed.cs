namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The path's version is current: newly committed (a commit, restore, move or new folder), or already current (an
/// identical retry, an existing folder).
/// </summary>
/// <param name="Entry">The current version; its version number is the change's sequence.</param>
internal sealed record Committed(PathEntry Entry) : CommitOutcome
{
    /// <summary>The change's sequence: the entry's version.</summary>
    public ulong Sequence => Entry.Version;
}
