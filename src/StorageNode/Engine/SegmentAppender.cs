using System.Buffers;
using System.Runtime.InteropServices;
using Dropbox.Shared.Memory;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Appends records to the active segment through a block-aligned staging buffer. On Linux the segment is written
/// with <c>O_DIRECT</c>: bytes go from the staging buffer to the device without a copy into the page cache, which
/// on the machines measured cost 2.6-3.5 ms of kernel CPU per MiB (as much as everything else in a put together).
/// Direct writes must start on, and cover whole, <see cref="BlockSize"/> blocks, so the partial block at the end
/// stays in the buffer, is written padded with zeros, and is rewritten with the same leading bytes by the next
/// flush. The segment's logical length never includes the padding: <see cref="Close"/> and recovery cut it off.
/// Where direct I/O is unavailable (not Linux, a file system without it, or turned off) the same buffer is
/// written with ordinary buffered writes and no padding.
/// </summary>
internal sealed class SegmentAppender : IDisposable
{
    /// <summary>Alignment of direct writes (file offset, length and memory): the largest common logical block size.</summary>
    public const int BlockSize = 4096;

    /// <summary>
    /// The staging buffer: 4 MiB and room for a record's header and padding, so that a record of a chunk of the
    /// default largest size (4 MiB) is staged in one piece (<see cref="TryReserve"/>).
    /// </summary>
    public const int StagingBytes = (4 * 1024 * 1024) + (16 * BlockSize);

    private readonly IEngineFile _handle;
    private readonly byte[] _array;
    private readonly int _origin;
    private readonly byte[] _savedTail = new byte[BlockSize];

    // File offset of _staging[0] (block-aligned when direct) and the bytes staged from there.
    private long _base;
    private int _filled;

    // True once a direct write has succeeded: after that a failed write is an I/O error, not a missing feature.
    private bool _directProven;
    private bool _wroteSinceMark;

    // State at the start of the current batch, to roll back to if a write fails.
    private long _savedBase;
    private int _savedFilled;

    private SegmentAppender(IEngineFile handle, long length)
    {
        _handle = handle;

        // A pinned array never moves, so an aligned window into it stays aligned. Advised for huge pages where
        // DROPBOX_HUGE_PAGES=on (HugePageArrays): an appender is opened per segment, and its fresh 4 MiB took 1,000 page
        // faults at a time (4,100 in a 1 GiB upload) on the machine of stop 40.
        _array = HugePageArrays.AllocatePinned(StagingBytes + BlockSize);
        var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
        _origin = (int)((BlockSize - (address % BlockSize)) % BlockSize);

        // The partial block already on disk is part of the next write (read before O_DIRECT, which would need
        // a whole-block read).
        _base = length - (length % BlockSize);
        _filled = (int)(length - _base);
        if (_filled > 0)
        {
            var read = _handle.Read(Staging[.._filled], _base);
            if (read != _filled)
            {
                throw new IOException($"Could not read the last {_filled} bytes of the segment back (got {read}).");
            }
        }

        Mark();
    }

    /// <summary>True if writes bypass the page cache.</summary>
    public bool IsDirect { get; private set; }

    /// <summary>
    /// Told when the file system took <c>O_DIRECT</c> but refused the first direct write, so this appender writes buffered
    /// from then on (set by the writer's side before its first write).
    /// </summary>
    public Action<IOException>? DirectWritesRefused { get; set; }

    /// <summary>Logical length: every byte appended so far (written or still staged).</summary>
    public long Length => _base + _filled;

    private Span<byte> Staging => _array.AsSpan(_origin, StagingBytes);

    /// <summary>Opens a segment file of <paramref name="length"/> logical bytes for appending.</summary>
    public static SegmentAppender Open(string path, long length, bool preferDirect) =>
        Open(DiskFiles.Instance, path, length, preferDirect);

    /// <summary>Opens a segment file of <paramref name="length"/> logical bytes in <paramref name="files"/> for appending.</summary>
    public static SegmentAppender Open(IEngineFiles files, string path, long length, bool preferDirect)
    {
        var handle = files.Open(path, FileMode.Open);
        try
        {
            var appender = new SegmentAppender(handle, length);
            appender.IsDirect = preferDirect && handle.TrySetDirect(enable: true);
            return appender;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Remembers the current state (between flushes) as the point <see cref="Rollback"/> returns to.</summary>
    public void Mark()
    {
        // After a flush at most the partial last block is staged.
        if (_filled >= BlockSize)
        {
            throw new InvalidOperationException("Mark only between batches, after Flush.");
        }

        _savedBase = _base;
        _savedFilled = _filled;
        Staging[.._filled].CopyTo(_savedTail);
        _wroteSinceMark = false;
    }

    /// <summary>Stages bytes; whole staging buffers are written as they fill.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var n = Math.Min(data.Length, StagingBytes - _filled);
            data[..n].CopyTo(Staging[_filled..]);
            _filled += n;
            data = data[n..];
            if (_filled == StagingBytes)
            {
                WriteStaged(StagingBytes);
                _base += StagingBytes;
                _filled = 0;
            }
        }
    }

    /// <summary>Stages bytes in pieces (<see cref="Append(ReadOnlySpan{byte})"/> for each).</summary>
    public void Append(in ReadOnlySequence<byte> data)
    {
        foreach (var piece in data)
        {
            Append(piece.Span);
        }
    }

    /// <summary>Reservations granted since the appender was opened (a test can tell which path a record took).</summary>
    public long Reservations { get; private set; }

    /// <summary>Writes <see cref="TryReserve"/> made of what was staged, to make room for a reservation, mid-batch.</summary>
    public long ReserveWrites { get; private set; }

    /// <summary>
    /// Stages <paramref name="length"/> bytes in one piece for the caller to fill in place (a record whose header is
    /// computed over its staged body), first writing what is staged if they would not fit behind it. False, with
    /// nothing changed, if they cannot be staged in one piece (longer than the buffer less a block): append them.
    /// </summary>
    /// <remarks>
    /// The reserved bytes already count as appended, and the next write (<see cref="Append"/>, <see cref="Flush"/>
    /// or a later <see cref="TryReserve"/>) puts them on disk as they are: they are not cleared, and may hold bytes
    /// of earlier records staged at the same offsets, which recovery would read back as valid records. So the caller
    /// must fill <paramref name="reserved"/> completely, synchronously, before its next call on this appender, and if
    /// it cannot (an exception between the reservation and the fill) it must <see cref="Rollback"/> the batch before
    /// anything else is written. The span is invalid after that next call. (Debug builds clear it, so a caller that
    /// breaks this writes zeros, not old records, in tests.)
    /// </remarks>
    public bool TryReserve(int length, out Span<byte> reserved)
    {
        reserved = default;
        if (length >= StagingBytes - BlockSize)
        {
            return false;
        }

        // Strictly below the end: a full buffer is written by the next Append, which needs free space to make progress.
        if (_filled + length >= StagingBytes)
        {
            Flush();
            ReserveWrites++;
        }

        reserved = Staging.Slice(_filled, length);
        _filled += length;
        Reservations++;
        ClearInDebug(reserved);
        return true;
    }

    [System.Diagnostics.Conditional("DEBUG")]
    private static void ClearInDebug(Span<byte> reserved) => reserved.Clear();

    /// <summary>Writes everything staged; the caller makes it durable with an fsync.</summary>
    public void Flush()
    {
        if (_filled == 0)
        {
            return;
        }

        if (!IsDirect)
        {
            WriteStaged(_filled);
            _base += _filled;
            _filled = 0;
            return;
        }

        var padded = (_filled + BlockSize - 1) / BlockSize * BlockSize;
        Staging[_filled..padded].Clear();
        WriteStaged(padded);

        // Keep the partial last block: the next flush rewrites it with more bytes after the same ones.
        var whole = _filled / BlockSize * BlockSize;
        if (whole > 0)
        {
            Staging[whole.._filled].CopyTo(Staging);
            _base += whole;
            _filled -= whole;
        }
    }

    /// <summary>
    /// Returns to the state of the last <see cref="Mark"/> after a failed write, and cuts the file back to that
    /// length so no half-written batch is left behind. If any block was written since the mark the cut is fsynced:
    /// another batch's fsync of this file may already have made those records durable, and they must not be replayed
    /// as stored after a power cut. Throws if the file could not be cut back durably (the caller stops writes).
    /// </summary>
    public void Rollback()
    {
        _base = _savedBase;
        _filled = _savedFilled;
        _savedTail.AsSpan(0, _filled).CopyTo(Staging);
        if (!_wroteSinceMark)
        {
            return;
        }

        _handle.SetLength(Length);
        _handle.Flush();
        _wroteSinceMark = false;
    }

    /// <summary>Cuts the zero padding off (the file ends at the logical length) and closes the handle.</summary>
    public void Close()
    {
        try
        {
            if (_handle.Length != Length)
            {
                _handle.SetLength(Length);
            }
        }
        finally
        {
            _handle.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private void WriteStaged(int count)
    {
        try
        {
            _wroteSinceMark = true;
            _handle.Write(Staging[..count], _base);
            _directProven |= IsDirect;
        }
        catch (IOException refused) when (IsDirect && !_directProven)
        {
            // The file system took the O_DIRECT flag but refuses the writes (a stricter alignment, say): fall
            // back to buffered writes for good rather than fail every batch. Later errors are real I/O errors.
            _handle.TrySetDirect(enable: false);
            IsDirect = false;
            _handle.Write(Staging[..count], _base);

            // Said only once the buffered write took what the direct one refused: a write that fails buffered too (a
            // full disk) is a real I/O error, not a refusal of O_DIRECT. A log sink that throws fails nothing (review s56).
            try
            {
                DirectWritesRefused?.Invoke(refused);
            }
            catch (Exception)
            {
            }
        }
    }
}
