using System.Buffers;
using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// The pipeline's buffer pool (read blocks and compressed copies). Not <see cref="ArrayPool{T}.Shared"/>: that
/// one caches an array per thread and per core, and pipeline buffers are returned on whichever thread disposes
/// the last chunk (upload tasks, workers), so over a long upload a 16 MiB block stayed cached for every thread
/// that ever returned one (a 3 GiB upload peaked 50-90 MB higher than a 1 GiB one). This pool keeps at most as
/// many arrays per size as were in use at once, up to a bound. Its blocks are pinned, and advised for huge pages only
/// where <c>DROPBOX_HUGE_PAGES=on</c> (<see cref="HugePageArrays"/>: a short run's blocks are all fresh memory; which page
/// size fills them cheaper depends on the machine, and on this project's machine since stop 56 it is 4 KiB).
/// </summary>
internal static class PipelineBuffers
{
    public static ArrayPool<byte> Pool { get; } = new PinnedArrayPool(maxArrayLength: 1 << 30, maxArraysPerBucket: 8);
}
