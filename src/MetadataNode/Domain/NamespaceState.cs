using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain;

/// <summary>The in-memory copy of a namespace record (changed only under the store's write lock) and its signal.</summary>
internal sealed class NamespaceState
{
    public NamespaceState(NamespaceRecord record) => Record = record;

    /// <summary>The last committed record. Replaced (never mutated) after each successful write.</summary>
    public NamespaceRecord Record { get; set; }

    public string Id => Record.NamespaceId;

    public ChangeSignal Signal { get; } = new();

    /// <summary>This account's outstanding put tokens (per account, so no other account's load is ever scanned).</summary>
    public PendingPuts Pending { get; } = new();

    /// <summary>This account's budget of plan and commit work in flight.</summary>
    public WorkGate Work { get; } = new(Limits.MaxChunkWorkInFlightPerUser, Limits.MaxQueuedCallsPerUser, Limits.MaxChunkRatePerUser, Limits.ChunkRateBurstPerUser);

    /// <summary>Long polls this account holds open now.</summary>
    public int LongPolls;
}
