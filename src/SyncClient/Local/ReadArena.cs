using System.Buffers;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// One pooled buffer that an upload group's small files are read into, each into its own slice, instead of a fresh
/// array per file: a first sync's 10,000 small files allocated ~46 MB of arrays that lived until their group was put,
/// and the garbage collector's clearing, marking and compacting of them was a tenth of the client's CPU. The buffer goes
/// back to the pool when the group's reader (<see cref="Dispose"/>) and every chunk cut from it
/// (<see cref="Lease"/>) have let go, so a chunk's bytes stay valid for as long as the chunk is not disposed.
/// </summary>
internal sealed class ReadArena : IDisposable
{
    /// <summary>Most bytes an arena holds: an upload group's (<c>Uploader.MaxGroupBytes</c>).</summary>
    public const int MaxBytes = 16 << 20;

    // Not ArrayPool.Shared: that one caches per thread, and arenas are returned on whichever thread disposes the last
    // chunk. At most four groups are in flight, so the pool keeps at most four arrays of each power-of-two size (it
    // keeps them for the life of the process, as the pipeline's pool does: a daemon after a large first sync holds a
    // few MiB, at most four times each size it used).
    private static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(MaxBytes, maxArraysPerBucket: 4);

    private readonly byte[] _array;
    private int _used;
    private int _references = 1;
    private int _readerDone;

    private ReadArena(int bytes) => _array = Pool.Rent(bytes);

    /// <summary>An arena of at least <paramref name="bytes"/>; null when there is nothing to hold or too much for one.</summary>
    public static ReadArena? For(long bytes) => bytes is > 0 and <= MaxBytes ? new ReadArena((int)bytes) : null;

    /// <summary>Bytes not handed out yet.</summary>
    public int Free => _array.Length - Volatile.Read(ref _used);

    /// <summary>
    /// The next <paramref name="size"/> bytes, not shared with any other slice (safe from parallel readers); false when
    /// the arena has no more room. A slice handed out is never handed out again, even when its file was not read.
    /// </summary>
    public bool TryTake(int size, out Memory<byte> slice)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);

        // Compare-and-swap, never add-then-undo: a take that does not fit leaves the mark untouched. (An undo let a
        // take that succeeded between another's add and its undo be handed the same bytes again later.)
        var used = Volatile.Read(ref _used);
        while (true)
        {
            if (size > _array.Length - used)
            {
                slice = default;
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _used, used + size, used);
            if (seen == used)
            {
                slice = _array.AsMemory(used, size);
                return true;
            }

            used = seen;
        }
    }

    /// <summary>
    /// <paramref name="chunk"/>, owning one reference to this arena besides its own buffers: disposing it disposes the
    /// chunk and lets go of the arena (once, however often it is disposed).
    /// </summary>
    public SourceChunk Lease(SourceChunk chunk)
    {
        AddReference();
        return new SourceChunk(chunk.Offset, chunk.Ref, chunk.Plain, chunk.Stored, new Holder(this, chunk), chunk.FastHash);
    }

    /// <summary>Lets go of the reader's reference (once): the arena is returned when every leased chunk is disposed too.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _readerDone, 1) == 0)
        {
            Release();
        }
    }

    private void AddReference()
    {
        if (Interlocked.Increment(ref _references) <= 1)
        {
            throw new InvalidOperationException("A read arena was leased after it was returned to its pool.");
        }
    }

    private void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left == 0)
        {
            Pool.Return(_array);
        }
        else if (left < 0)
        {
            throw new InvalidOperationException("A read arena was released more often than referenced.");
        }
    }

    private sealed class Holder(ReadArena arena, SourceChunk chunk) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                chunk.Dispose();
                arena.Release();
            }
        }
    }
}
