using System.Buffers;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>One request to the single writer: a chunk to append or relocate, or a delete/quarantine tombstone.</summary>
internal sealed class WriteOp
{
    public WriteOp(RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlyMemory<byte> payload, ChunkLocation? expected)
        : this(kind, id, encoding, plainLength, new ReadOnlySequence<byte>(payload), expected)
    {
    }

    /// <summary>An op over <paramref name="payload"/>, which may be in several pieces (an HTTP body as the connection's pipe holds it).</summary>
    public WriteOp(RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlySequence<byte> payload, ChunkLocation? expected)
    {
        Kind = kind;
        Id = id;
        Encoding = encoding;
        PlainLength = plainLength;
        Payload = payload;
        PayloadLength = checked((int)payload.Length);
        Expected = expected;
    }

    public RecordKind Kind { get; }

    public ChunkId Id { get; }

    public ChunkEncoding Encoding { get; }

    public int PlainLength { get; }

    /// <summary>
    /// The caller's bytes until the writer takes them (<see cref="TakePayload"/>) to stage them or skip the op, then
    /// empty: the engine keeps no reference to memory it does not own (a request's pipe buffers go back to their pool
    /// when the request ends).
    /// </summary>
    public ReadOnlySequence<byte> Payload { get; private set; }

    /// <summary>The payload's length (kept after <see cref="TakePayload"/>).</summary>
    public int PayloadLength { get; }

    /// <summary>For relocation and quarantine: act only if the index still points here.</summary>
    public ChunkLocation? Expected { get; }

    /// <summary>True once written; false if skipped (already held, not held, or moved meanwhile).</summary>
    public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Filled in by the writer.
    public bool Skip { get; set; }

    public ChunkLocation? Previous { get; set; }

    /// <summary>For a skipped op: the not-yet-durable op whose write the skip decision relied on.</summary>
    public WriteOp? DependsOn { get; set; }

    public ChunkLocation NewLocation { get; set; }

    /// <summary>Order of this op among all written ones (to clear its pending-state entry).</summary>
    public long Sequence { get; set; }

    /// <summary>The in-flight op whose pending state this one's write replaced (restored if this one fails).</summary>
    public WriteOp? HiddenPending { get; set; }

    /// <summary>True once published or failed (its pending-state entry is gone; writer's lock only).</summary>
    public bool Retired { get; set; }

    /// <summary>The payload, for the writer to copy at once; the op no longer refers to it.</summary>
    public ReadOnlySequence<byte> TakePayload()
    {
        var payload = Payload;
        Payload = default;
        return payload;
    }
}
