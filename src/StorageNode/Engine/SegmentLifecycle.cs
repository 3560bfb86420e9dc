using System.Collections.Concurrent;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Starts, rolls, drops and closes segment files of the engine's set (writer only). A failure that leaves the set in a
/// state it cannot undo goes to <paramref name="stopWrites"/>: the engine then takes no more writes.
/// </summary>
internal sealed class SegmentLifecycle(IEngineFiles files, string segmentDir, bool directWrites, bool directReads, ConcurrentDictionary<int, Segment> segments, ILogger logger, Action<Exception> stopWrites)
{
    private int _directWritesRefused;

    /// <summary>Creates segment <paramref name="number"/> durably, open for appending, and adds it to the set.</summary>
    public Segment Create(int number)
    {
        var path = Path.Combine(segmentDir, Segment.FileName(number));
        var handle = files.Open(path, FileMode.CreateNew);
        Segment segment;
        try
        {
            segment = new Segment(number, path, handle, 0, directReads: Segment.OpenDirectReads(files, path, directReads), logger: logger);
        }
        catch
        {
            handle.Dispose();
            TryDeleteFile(path);
            throw;
        }

        try
        {
            // Records fsynced into a segment whose directory entry is not durable vanish with it on power loss.
            files.SyncDirectory(segmentDir);
            segment.Appender = Watched(SegmentAppender.Open(files, path, 0, directWrites));
        }
        catch
        {
            segment.Retire();

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
        segment.Retire();
        files.Delete(segment.Path);
    }

    /// <summary>
    /// Rolls over from the full <paramref name="active"/> segment (its records written up to <paramref name="length"/>
    /// through <paramref name="appender"/>) to the next one, created first: if that fails (a failed directory fsync, say)
    /// nothing has changed yet, the batch is rolled back in the old segment and the next batch tries again. The full
    /// segment is closed (its padding cut off); the caller fsyncs it with its batch. Returns the new active segment.
    /// </summary>
    public Segment Roll(Segment active, SegmentAppender appender, long length)
    {
        var next = Create(active.Number + 1);
        try
        {
            appender.Flush();
        }
        catch (Exception flushFailure)
        {
            try
            {
                Drop(next);
            }
            catch (Exception ex)
            {
                // An empty segment file left behind: every later roll would fail to create it.
                stopWrites(new AggregateException(flushFailure, ex));
            }

            throw;
        }

        active.Length = length;
        active.Appender = null;
        CloseFull(active, appender);
        return next;
    }

    /// <summary>
    /// Undoes a failed batch that rolled over: its records in the segment(s) it closed must not be replayed as
    /// stored after a restart, so the segments it started are deleted and the one it started in (<paramref name="start"/>)
    /// is cut back to <paramref name="length"/> (both durably) and may become the active segment again (true). If that
    /// cannot be done the engine stops taking writes (false).
    /// </summary>
    public bool RollBack(Segment start, long length, Exception failure)
    {
        try
        {
            foreach (var segment in segments.Values.Where(s => s.Number > start.Number).OrderByDescending(s => s.Number).ToList())
            {
                Drop(segment);
            }

            files.SyncDirectory(segmentDir);
            start.Handle.SetLength(length);
            start.Handle.Flush();
            start.Length = length;
            start.Appender = Watched(SegmentAppender.Open(files, start.Path, length, directWrites));
            return true;
        }
        catch (Exception ex)
        {
            stopWrites(new AggregateException(failure, ex));
            return false;
        }
    }

    /// <summary>
    /// Says once, as the engine opens, how its segments are read and written where that is not direct I/O: off by
    /// configuration (information), or refused by the file system (a warning: the node is slower than it should be,
    /// and nothing else would say why). <paramref name="active"/> stands for every segment: they share one folder. From
    /// then on, a file system that took <c>O_DIRECT</c> but refuses the direct writes is reported too, once.
    /// </summary>
    public void ReportDirectIo(Segment active)
    {
        if (active.Appender is { } appender)
        {
            Watched(appender);
        }

        if (Describe(!directReads, !directWrites) is { } off)
        {
            EngineLog.DirectIoOff(logger, off);
        }

        if (Describe(directReads && !active.ReadsDirectly, directWrites && active.Appender is { IsDirect: false }) is { } refused)
        {
            EngineLog.DirectIoUnavailable(logger, refused, segmentDir);
        }
    }

    private SegmentAppender Watched(SegmentAppender appender)
    {
        // Each segment's appender tries O_DIRECT again and falls back by itself: said once per engine, not per segment.
        appender.DirectWritesRefused = refused =>
        {
            if (Interlocked.Exchange(ref _directWritesRefused, 1) == 0)
            {
                EngineLog.DirectWritesRefused(logger, segmentDir, refused);
            }
        };
        return appender;
    }

    private static string? Describe(bool reads, bool writes) => (reads, writes) switch
    {
        (true, true) => "reads and writes",
        (true, false) => "reads",
        (false, true) => "writes",
        _ => null,
    };

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
