using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Engine;

/// <summary>The chunk engine's log messages (event ids 2000-2099), and those of the outbox log's recovery (2100-2103, kept from when it lived in the outbox).</summary>
internal static partial class EngineLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Chunk engine opened at {Directory}: {Chunks} chunks in {Segments} segments; replayed {Replayed} records from segment {Segment} offset {Offset}")]
    public static partial void Opened(ILogger logger, string directory, long chunks, int segments, long replayed, int segment, long offset);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Cut a torn record off the tail of segment {Segment} at offset {Offset} ({Bytes} bytes dropped; never acknowledged)")]
    public static partial void TruncatedTail(ILogger logger, int segment, long offset, long bytes);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Corrupt record in closed segment {Segment} at offset {Offset}; records after it were not replayed. Run scrub.")]
    public static partial void CorruptClosedSegment(ILogger logger, int segment, long offset);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Index checkpoint {Token} could not be recovered; rebuilding the index from every segment")]
    public static partial void RebuildingIndex(ILogger logger, Guid token);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Chunk {Chunk} is corrupt at {Location}; quarantined")]
    public static partial void Quarantined(ILogger logger, string chunk, string location);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Compacted segment {Segment}: moved {Chunks} live chunks, reclaimed {Bytes} bytes")]
    public static partial void Compacted(ILogger logger, int segment, long chunks, long bytes);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Background index checkpoint failed")]
    public static partial void CheckpointFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Error, Message = "Group commit of {Count} writes failed")]
    public static partial void BatchFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Skipped a rotten record in segment {Segment} at offset {Offset} during replay; scrub will report it")]
    public static partial void SkippedRottenRecord(ILogger logger, int segment, long offset);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning, Message = "Index entry for {Chunk} points at missing segment {Segment}; dropped")]
    public static partial void DanglingEntry(ILogger logger, string chunk, int segment);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Critical, Message = "An fsync of a segment failed: the chunk engine takes no more writes until the storage node restarts")]
    public static partial void WritesStopped(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Could not cut the padding off full segment {Segment}; recovery will")]
    public static partial void ClosePaddingFailed(ILogger logger, int segment, Exception exception);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Critical, Message = "A failed write batch that rolled to a new segment could not be undone: the chunk engine takes no more writes until the storage node restarts")]
    public static partial void RollbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Information, Message = "Upgraded the event outbox in {Directory} to the durable-log format")]
    public static partial void LogUpgraded(ILogger logger, string directory);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Error, Message = "Damaged event record in {Path} at offset {Offset}: its checksum does not match; it is skipped and the metadata node will not hear of that chunk from this event")]
    public static partial void LogRecordDamaged(ILogger logger, string path, long offset);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Warning, Message = "Could not quarantine chunk {Id}, which a read found corrupt; the read keeps its own error and the next scrub checks it again")]
    public static partial void ReadQuarantineFailed(ILogger logger, string id, Exception exception);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Information, Message = "Direct {What} are off by configuration (--direct-io off): segment {What} go through the page cache")]
    public static partial void DirectIoOff(ILogger logger, string what);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Warning, Message = "Direct {What} are unavailable: the file system of {Directory} (or this platform) refused O_DIRECT, so this node uses buffered {What} (slower, and through the page cache)")]
    public static partial void DirectIoUnavailable(ILogger logger, string what, string directory);

    [LoggerMessage(EventId = 2018, Level = LogLevel.Warning, Message = "Direct reads of segment {Segment} are off from now on, its records are read buffered: {Reason}")]
    public static partial void SegmentDirectReadsOff(ILogger logger, int segment, string reason, Exception? exception);

    [LoggerMessage(EventId = 2019, Level = LogLevel.Warning, Message = "The file system of {Directory} took O_DIRECT but refused a direct write: this node appends its segments with buffered writes (slower, and through the page cache)")]
    public static partial void DirectWritesRefused(ILogger logger, string directory, Exception exception);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Cut a torn record off the tail of {Path} at offset {Offset} ({Bytes} bytes dropped; never acknowledged)")]
    public static partial void LogTornTail(ILogger logger, string path, long offset, long bytes);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "The delivered mark {Path} ({Mark}) is not the start of a record of the {Length}-byte event log (stale, from before the log was emptied); reset to 0: pending events are delivered again")]
    public static partial void StaleMark(ILogger logger, string path, long mark, long length);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning, Message = "Could not write the event outbox's delivered mark {Path} while closing ({Reason}); the events delivered since the last mark written are delivered again after the restart")]
    public static partial void LogOutboxMarkNotWritten(ILogger logger, string path, string reason);
}
