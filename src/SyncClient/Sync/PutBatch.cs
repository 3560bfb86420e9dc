using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Sync;

/// <summary>One PutChunks call to one node (see <see cref="PutQueue"/>); owns the read buffers of its chunks.</summary>
internal sealed class PutBatch(ChunkLocation node) : IDisposable
{
    private readonly List<SourceChunk> _owned = [];

    public ChunkLocation Node { get; } = node;

    public List<OutgoingChunk> Outgoing { get; } = [];

    public long Bytes { get; private set; }

    public long PlainBytes { get; private set; }

    /// <summary>Plan windows this batch has waited through unsent (see <see cref="PutQueue.SendStaleAsync"/>).</summary>
    public int WindowsWaited { get; set; }

    public void Add(SourceChunk chunk, string token)
    {
        _owned.Add(chunk);
        Outgoing.Add(new OutgoingChunk(chunk.Ref.Id, chunk.Ref.Encoding, chunk.Ref.Size, token, chunk.Stored));
        Bytes += chunk.Stored.Length;
        PlainBytes += chunk.Ref.Size;
    }

    /// <summary>Adds a copy of a chunk for another replica; progress counts the original only.</summary>
    public void AddReplica(SourceChunk chunk, string token)
    {
        var copy = chunk.Stored.ToArray();
        Outgoing.Add(new OutgoingChunk(chunk.Ref.Id, chunk.Ref.Encoding, chunk.Ref.Size, token, copy));
        Bytes += copy.Length;
    }

    public void Dispose()
    {
        foreach (var c in _owned)
        {
            c.Dispose();
        }

        _owned.Clear();
    }
}
