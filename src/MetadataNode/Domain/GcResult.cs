namespace Dropbox.MetadataNode.Domain;

/// <summary>The result of one retention and garbage-collection pass.</summary>
internal readonly record struct GcResult(int PrunedVersions, int DeletedChunks, int FailedChunks, long DeletedBytes);
