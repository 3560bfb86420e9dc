namespace Dropbox.StorageNode.Engine;

/// <summary>What a segment record says.</summary>
internal enum RecordKind : byte
{
    /// <summary>A chunk's bytes.</summary>
    Chunk = 1,

    /// <summary>The chunk is deleted (GC); replay removes it from the index.</summary>
    Delete = 2,

    /// <summary>The chunk was found corrupt and quarantined; replay removes it from the index.</summary>
    Quarantine = 3,
}
