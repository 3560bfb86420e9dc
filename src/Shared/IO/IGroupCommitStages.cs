namespace Dropbox.Shared.IO;

/// <summary>
/// What a <see cref="GroupCommit{TItem, TBatch}"/> does with the items it gathers: write a group (no barrier),
/// make every group written so far durable with one barrier (fsync, WAL sync), then complete them.
/// </summary>
/// <typeparam name="TItem">One caller's request; it carries its own completion.</typeparam>
/// <typeparam name="TBatch">What the write of one group leaves for the barrier and completion.</typeparam>
public interface IGroupCommitStages<TItem, TBatch>
{
    /// <summary>Writes a group of items, without the durability barrier. Throwing fails the group (<see cref="Fail"/>).</summary>
    TBatch Write(IReadOnlyList<TItem> items);

    /// <summary>One durability barrier covering every batch in <paramref name="batches"/>.</summary>
    void Sync(IReadOnlyList<TBatch> batches);

    /// <summary>Completes a batch's callers: <paramref name="failure"/> is the barrier's error, or null once it is durable.</summary>
    void Complete(TBatch batch, Exception? failure);

    /// <summary>Fails items whose write threw.</summary>
    void Fail(IReadOnlyList<TItem> items, Exception failure);
}
