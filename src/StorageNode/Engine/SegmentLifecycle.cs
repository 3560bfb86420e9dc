using System.Collections.Concurrent;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Engine;

/// <summary>Starts, drops and closes segment files of the engine's set (writer only).</summary>
internal sealed class SegmentLifecycle(IEngineFiles files, string segmentDir, bool directWrites, ConcurrentDictionary<int, Segment> segments, ILogger logger)
{
    /// <summary>Creates segment <paramref name="number"/> durably, open for appending, and adds it to the set.</summary>
    public Segment Create(int number)
    {
        var path = Path.Combine(segmentDir, Segment.FileName(number));
        var handle = files.Open(path, FileMode.CreateNew);
        var segment = new Segment(number, path, handle, 0);
        try
        {
            // Records fsynced into a segment whose directory entry is not durable vanish with it on power loss.
            files.SyncDirectory(segmentDir);
            segment.Appender = SegmentAppender.Open(files, path, 0, directWrites);
        }
        catch
        {
            handle.Dispose();

            // Leave no half-made segment behind, so the next roll can create it again.
            TryDeleteFile(path);
            throw;
        }

        segments[number] = segment;
        return segment;
    }

    /// <summary>
    /// Undoes <see cref="Create"/>: removes the segment from the set and deletes its file. Throws if the file could
    /// not be deleted: records left in it would be replayed after a restart (the caller stops writes).
    /// </summary>
    public void Drop(Segment segment)
    {
        segments.TryRemove(segment.Number, out _);
        segment.Appender?.Dispose();
        segment.Appender = null;
        segment.Handle.Dispose();
        files.Delete(segment.Path);
    }

    /// <summary>Closes a full segment's appender; its bytes are written, so a failure to cut the padding off is left to recovery.</summary>
    public void CloseFull(Segment segment, SegmentAppender appender)
    {
        try
        {
            appender.Close();
        }
        catch (IOException ex)
        {
            EngineLog.ClosePaddingFailed(logger, segment.Number, ex);
        }
    }

    private void TryDeleteFile(string path)
    {
        try
        {
            files.Delete(path);
        }
        catch (IOException)
        {
            // Then CreateNew refuses the name next time and that batch fails with the I/O error.
        }
    }
}
