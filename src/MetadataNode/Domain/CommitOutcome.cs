namespace Dropbox.MetadataNode.Domain;

/// <summary>What became of one file of a commit: <see cref="Committed"/> or <see cref="CommitRefused"/>.</summary>
internal abstract record CommitOutcome;
