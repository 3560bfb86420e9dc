using System.Diagnostics;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// Keeps a storage node from writing its data disk full. Once the free space falls below the reserve (or a write fails
/// for lack of space), every put is refused with RESOURCE_EXHAUSTED naming the node, including puts of chunks the node
/// already holds: were those still answered "stored" while new ones fail, a full node would tell any account which
/// chunks another stores. Nothing stored is touched (a failed batch is rolled back by the engine). The state is read
/// again from the file system at most every <see cref="RecheckInterval"/>, so a node with space freed takes puts again
/// by itself.
/// </summary>
public sealed class SpaceGuard
{
    /// <summary>How long a reading of the free space is trusted.</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// After a write found no space, free space must come back this far above the reserve before puts resume (a batch of
    /// writes is at most this big): a held chunk's put writes nothing and would otherwise be "stored" while a new chunk's
    /// hits the disk's end again.
    /// </summary>
    public const long DefaultOutOfSpaceMarginBytes = 64L * 1024 * 1024;

    private readonly long _outOfSpaceMarginBytes;

    // errno values .NET puts in IOException.HResult on Unix for "no space left on device" and "disk quota exceeded".
    private const int Enospc = 28;
    private const int Edquot = 122;

    private readonly string _directory;
    private readonly Func<string, long> _freeBytes;
    private readonly Lock _lock = new();
    private long _checkedAt = long.MinValue;
    private long _free = long.MaxValue;
    private bool _outOfSpace;
    private bool _writeFoundNoSpace;

    /// <summary>Guards the file system of <paramref name="directory"/>, keeping <paramref name="reserveBytes"/> free.</summary>
    public SpaceGuard(string directory, long reserveBytes, Func<string, long>? freeBytes = null, long outOfSpaceMarginBytes = DefaultOutOfSpaceMarginBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentOutOfRangeException.ThrowIfNegative(reserveBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(outOfSpaceMarginBytes);
        _outOfSpaceMarginBytes = outOfSpaceMarginBytes;
        _directory = directory;
        ReserveBytes = reserveBytes;
        _freeBytes = freeBytes ?? AvailableBytes;
    }

    /// <summary>Free bytes below which the node takes no more puts.</summary>
    public long ReserveBytes { get; }

    /// <summary>True while the node refuses puts for lack of space.</summary>
    public bool IsFull
    {
        get
        {
            lock (_lock)
            {
                Refresh();
                return _outOfSpace || _free < ReserveBytes;
            }
        }
    }

    /// <summary>True if <paramref name="ex"/> is the file system saying it has no space (or quota) left.</summary>
    public static bool IsOutOfSpace(Exception ex) => ex is IOException { HResult: Enospc or Edquot };

    /// <summary>Throws RESOURCE_EXHAUSTED if the node is full.</summary>
    public void ThrowIfFull(NodeId node)
    {
        if (IsFull)
        {
            throw Full(node);
        }
    }

    /// <summary>Records a write that failed for lack of space (full until a reading shows the reserve plus a margin free).</summary>
    public void ReportOutOfSpace()
    {
        lock (_lock)
        {
            _outOfSpace = true;
            _writeFoundNoSpace = true;
            _checkedAt = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>The error a put gets on a full node.</summary>
    public DropboxException Full(NodeId node) =>
        // No byte counts: how much space a put took would help an account measure what the node already holds.
        new(ErrorKind.ResourceExhausted, $"Storage node {node} is full: its data disk is below the free space it keeps. The chunk was not stored and nothing stored before is affected; the metadata node places new chunks on other nodes, or free space here.");

    private void Refresh()
    {
        var now = Stopwatch.GetTimestamp();
        if (_checkedAt != long.MinValue && Stopwatch.GetElapsedTime(_checkedAt, now) < RecheckInterval)
        {
            return;
        }

        _checkedAt = now;
        try
        {
            _free = _freeBytes(_directory);
            _outOfSpace = _free < ReserveBytes + (_writeFoundNoSpace ? _outOfSpaceMarginBytes : 0);
            _writeFoundNoSpace &= _outOfSpace;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Unreadable: keep the last reading rather than refuse or accept on a guess.
        }
    }

    private static long AvailableBytes(string directory) => new DriveInfo(Path.GetFullPath(directory)).AvailableFreeSpace;
}
