using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Dropbox.Shared.IO;
using Dropbox.Shared.Memory;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Writes a new file front to back, bypassing the page cache with <c>O_DIRECT</c> where Linux and the file system
/// allow it, for the large files a download writes. Measured on the 2-core build VM: copying a download into the page
/// cache cost 0.2-1.9 ms of kernel CPU per MiB, the high end whenever the kernel handed out pages the hypervisor had
/// taken back (free page reporting), which made the client's kernel time swing from run to run; a direct write moves
/// the bytes from this writer's staging buffers to the device without that copy.
/// Bytes are staged in one of two block-aligned buffers; a full buffer is written while the other fills (one write
/// in flight). The partial block at the end is written without O_DIRECT (<see cref="CompleteAsync"/>), so the file
/// never holds padding. Where direct writes are unavailable, or the file system refuses the first one, the same
/// buffers are written with ordinary buffered writes. Not durable by itself: the caller's barrier fsyncs the file.
/// </summary>
internal sealed class DirectFileWriter : IAsyncDisposable
{
    /// <summary>Bytes per write (one staging buffer).</summary>
    public const int StagingBytes = 4 * 1024 * 1024;

    /// <summary>Files from this size on are written through this writer by a download (smaller ones stay buffered).</summary>
    public const long MinFileBytes = 8L * 1024 * 1024;

    private const int BlockSize = DirectIo.BlockSize;

    // Pinned arrays never move, so an aligned window into one stays aligned; a few are kept for the next file.
    private const int MaxSpare = 4;
    private static readonly ConcurrentBag<byte[]> Spare = [];

    private readonly SafeFileHandle _handle;
    private byte[]? _current;
    private byte[]? _other;
    private int _filled;
    private long _base;
    private Task _pending = Task.CompletedTask;
    private bool _proven;

    private DirectFileWriter(SafeFileHandle handle, bool direct)
    {
        _handle = handle;
        IsDirect = direct;
        _current = RentStaging();
        _other = RentStaging();
    }

    /// <summary>True while writes bypass the page cache.</summary>
    public bool IsDirect { get; private set; }

    /// <summary>Bytes written with O_DIRECT so far (the rest went through the page cache).</summary>
    public long DirectBytes { get; private set; }

    /// <summary>Bytes written or staged so far.</summary>
    public long Length => _base + _filled;

    /// <summary>
    /// A writer at offset 0 of <paramref name="handle"/> (a new, empty file the caller owns and keeps open); with
    /// <paramref name="preferDirect"/> false, or where O_DIRECT cannot be set, it writes buffered.
    /// </summary>
    public static DirectFileWriter Open(SafeFileHandle handle, bool preferDirect = true)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return new DirectFileWriter(handle, preferDirect && DirectIo.TrySet(handle, enable: true));
    }

    /// <summary>Appends <paramref name="data"/>; each full staging buffer is written while the next one fills.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            var n = Math.Min(data.Length, StagingBytes - _filled);
            data.Span[..n].CopyTo(Staging(_current!).Slice(_filled));
            _filled += n;
            data = data[n..];
            if (_filled == StagingBytes)
            {
                // The previous write must be done before its buffer is filled again.
                await _pending.ConfigureAwait(false);
                _pending = WriteAsync(_current!, StagingBytes, _base, ct);
                (_current, _other) = (_other, _current);
                _base += StagingBytes;
                _filled = 0;
            }
        }
    }

    /// <summary>Writes everything staged: the whole blocks as before, the partial last block buffered.</summary>
    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        await _pending.ConfigureAwait(false);
        if (_filled == 0)
        {
            return;
        }

        var whole = IsDirect ? _filled / BlockSize * BlockSize : _filled;
        if (whole > 0)
        {
            await WriteAsync(_current!, whole, _base, ct).ConfigureAwait(false);
        }

        if (whole < _filled)
        {
            TurnOffDirect();
            await RandomAccess.WriteAsync(_handle, Memory(_current!).Slice(whole, _filled - whole), _base + whole, ct).ConfigureAwait(false);
        }

        _base += _filled;
        _filled = 0;
    }

    /// <summary>Waits for a write still in flight (its failure is the caller's to report elsewhere), then gives the buffers back.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _pending.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            // Already thrown to the writer's caller, or the download is abandoned anyway.
        }

        ReturnStaging(Interlocked.Exchange(ref _current, null));
        ReturnStaging(Interlocked.Exchange(ref _other, null));
    }

    private async Task WriteAsync(byte[] staging, int count, long offset, CancellationToken ct)
    {
        try
        {
            var direct = IsDirect;
            await RandomAccess.WriteAsync(_handle, Memory(staging)[..count], offset, ct).ConfigureAwait(false);
            if (direct)
            {
                _proven = true;
                DirectBytes += count;
            }
        }
        catch (IOException) when (IsDirect && !_proven)
        {
            // The file system took the flag but refuses the writes (a stricter alignment, say): write buffered.
            TurnOffDirect();
            await RandomAccess.WriteAsync(_handle, Memory(staging)[..count], offset, ct).ConfigureAwait(false);
        }
    }

    private void TurnOffDirect()
    {
        if (IsDirect)
        {
            IsDirect = false;
            _ = DirectIo.TrySet(_handle, enable: false);
        }
    }

    private static Span<byte> Staging(byte[] array) => array.AsSpan(Origin(array), StagingBytes);

    private static Memory<byte> Memory(byte[] array) => array.AsMemory(Origin(array), StagingBytes);

    private static int Origin(byte[] array)
    {
        var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        return (int)((BlockSize - (address % BlockSize)) % BlockSize);
    }

    // Advised for huge pages where DROPBOX_HUGE_PAGES=on (HugePageArrays): the two fresh 4 MiB buffers of a download's
    // first large file were 2,000 page faults on the machine of stop 40.
    private static byte[] RentStaging() =>
        Spare.TryTake(out var array) ? array : HugePageArrays.AllocatePinned(StagingBytes + BlockSize);

    private static void ReturnStaging(byte[]? array)
    {
        if (array is not null && Spare.Count < MaxSpare)
        {
            Spare.Add(array);
        }
    }
}
