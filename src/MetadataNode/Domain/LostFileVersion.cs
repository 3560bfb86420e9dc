namespace Dropbox.MetadataNode.Domain;

/// <summary>A file version that names a chunk no node holds any more (its owner, path and version).</summary>
internal sealed record LostFileVersion(string User, string Path, ulong Version);
