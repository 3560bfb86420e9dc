namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>What <see cref="RecordFile.TryRead"/> found.</summary>
internal enum RecordFileContent
{
    /// <summary>No file.</summary>
    Missing,

    /// <summary>An intact record.</summary>
    Record,

    /// <summary>A framed file with no intact record (torn or rotten).</summary>
    Unreadable,

    /// <summary>An unframed file written by an older build.</summary>
    Legacy,
}
