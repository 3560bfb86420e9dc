namespace Dropbox.MetadataNode.Domain;

/// <summary>What a path holds.</summary>
internal enum PathKind
{
    /// <summary>A file: a chunk list.</summary>
    File = 0,

    /// <summary>A folder.</summary>
    Folder = 1,
}
