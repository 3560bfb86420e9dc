using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// What the nodes answered about a commit's unconfirmed chunks, the store's deletion and corrupt-report counts and its
/// corrupt-report sequence (StoreTransactions.ReportedCorruptSince) read before asking them, and when they were asked
/// (UploadCommit.RecordAnswers).
/// </summary>
internal sealed record NodeAnswers((StorageNodeInfo Node, bool[] Present)[] Answers, List<ChunkRef> Chunks, long DeletionsBefore, long CorruptBefore, long ReportedBefore, long AskedAtMs)
{
    /// <summary>The copies recorded (or found recorded already): their puts end once the commit is written.</summary>
    public List<(string Node, ChunkId Id)> Landed { get; } = [];

    /// <summary>Chunks held and this account's own once recorded: no longer pending for it once written.</summary>
    public List<ChunkId> Owned { get; } = [];
}
