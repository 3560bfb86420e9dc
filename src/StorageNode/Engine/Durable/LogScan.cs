namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>What opening a <see cref="RecordLog{T}"/> found.</summary>
/// <typeparam name="T">The record.</typeparam>
internal sealed class LogScan<T>
{
    /// <summary>Every intact record, in order, with the offset just after it.</summary>
    public List<(T Record, long Offset, long End)> Records { get; } = [];

    /// <summary>
    /// Offsets of complete records in the middle of the log whose body checksum failed (rot, or a hole a lost write
    /// left): reported so the owner logs them, and skipped; intact records after them are kept.
    /// </summary>
    public List<long> Damaged { get; } = [];

    /// <summary>Damaged stretches whose header rotted: where each starts and where the next intact record starts.</summary>
    public List<(long Start, long Next)> Skipped { get; } = [];

    /// <summary>Bytes of the log up to the end of the last intact record.</summary>
    public long ValidLength { get; set; }

    /// <summary>Bytes after <see cref="ValidLength"/>: a torn tail (never acknowledged), cut off on open.</summary>
    public long TornBytes { get; set; }
}
