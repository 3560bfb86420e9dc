using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>One file of an <see cref="Uploader"/> group, from its read to its outcome.</summary>
internal sealed class UploadMember(SyncAction action)
{
    public SyncAction Action { get; } = action;

    public string Path => Action.Path;

    public ulong BaseVersion => Action.BaseVersion;

    /// <summary>The chunk list the commit names: the planner's, or the upload's own read.</summary>
    public FileFingerprint? Fingerprint { get; set; } = action.Fingerprint;

    /// <summary>A small file's chunks with their bytes, read whole with its hash, until they are put or dropped.</summary>
    public List<SourceChunk>? Read { get; set; }

    /// <summary>The references of <see cref="Read"/> (with the encodings they were cut with), kept for the commit.</summary>
    public List<ChunkRef>? ReadRefs { get; set; }

    /// <summary>
    /// True when one plan answer cannot carry the file's plan: each PlanChunks window is planned as the file is put, its
    /// puts under way before the next window is planned (a window's put tokens are used within minutes of being issued).
    /// </summary>
    public bool ByWindows { get; set; }

    /// <summary>The latest plan's puts.</summary>
    public List<ChunkPut> Missing { get; set; } = [];

    /// <summary>The chunks sent for this file (as sent: their encodings), across plans.</summary>
    public Dictionary<ChunkId, ChunkRef> Sent { get; } = [];

    /// <summary>The inode change time when a streamed read began (null: unknown or not streamed).</summary>
    public long? StreamChangeTimeNs { get; set; }

    /// <summary>True when the file is alone in its group: its progress counts put by put and its upload can resume.</summary>
    public bool Progressive { get; set; }

    public UploadOutcome? Outcome { get; set; }

    /// <summary>An error of this file alone (the server refused its commit): uploaded alone again, it is reported.</summary>
    public Exception? Error { get; set; }

    public bool Open => Outcome is null && Error is null;

    public UploadResult Result => new(Action, Outcome, Fingerprint);

    /// <summary>The reference the commit names for chunk <paramref name="i"/>: as sent, else as read, else as hashed.</summary>
    public ChunkRef CommitRef(int i)
    {
        var hashed = Fingerprint!.Chunks[i];
        return Sent.TryGetValue(hashed.Id, out var sent) ? sent : ReadRefs is { } refs && i < refs.Count ? refs[i] : hashed;
    }

    public void DisposeRead()
    {
        foreach (var c in Read ?? [])
        {
            c.Dispose();
        }

        Read = null;
    }
}
