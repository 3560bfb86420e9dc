using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Domain;

/// <summary>The file's version is current: newly committed, or already current (an identical retry).</summary>
/// <param name="Entry">The current version; its version number is the change's sequence.</param>
internal sealed record Committed(FileEntry Entry) : CommitOutcome;
