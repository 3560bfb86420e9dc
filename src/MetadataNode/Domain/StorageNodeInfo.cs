namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// A registered storage node as the domain sees it: where it listens, its last heartbeat and what that said, and the
/// drain flag. Immutable: the registry replaces a node's value to change it. Kept on disk as the stored schema's
/// <c>NodeRecord</c>, mapped in <c>Storage/StoredFormat</c> only.
/// </summary>
internal sealed record StorageNodeInfo
{
    /// <summary>The node's id.</summary>
    public required string NodeId { get; init; }

    /// <summary>Its gRPC endpoint (empty once a restore forgot it, until it registers again).</summary>
    public string GrpcUrl { get; init; } = "";

    /// <summary>Its presigned-link HTTP endpoint (empty when it serves none).</summary>
    public string HttpUrl { get; init; } = "";

    /// <summary>The disk capacity it registered with.</summary>
    public ulong CapacityBytes { get; init; }

    /// <summary>The bytes it holds, as its last registration or heartbeat said.</summary>
    public ulong UsedBytes { get; init; }

    /// <summary>What is left of <see cref="CapacityBytes"/> (0 when it holds more than it registered with).</summary>
    public ulong FreeBytes => CapacityBytes > UsedBytes ? CapacityBytes - UsedBytes : 0;

    /// <summary>The chunks it holds, as its last heartbeat said (0 until one came after its registration).</summary>
    public ulong ChunkCount { get; init; }

    /// <summary>When its last registration or heartbeat arrived (Unix ms; 0: never since a restore).</summary>
    public long LastHeartbeatUnixMs { get; init; }

    /// <summary>An admin asked to move its chunks away: no new chunks go there and its copies do not count.</summary>
    public bool Draining { get; init; }

    /// <summary>Its last heartbeat said its disk is below its reserve: no new chunks until it says not.</summary>
    public bool Full { get; init; }
}
