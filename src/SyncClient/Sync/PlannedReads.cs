using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A plan's missing chunks read back from a hashed file (see <see cref="Uploader"/>): only the stretches that hold them,
/// each cut and hashed again, so what is put is what the file holds now and a file changed since it was hashed is caught.
/// </summary>
internal static class PlannedReads
{
    /// <summary>The plan's puts by chunk: with replication, the plan names the same chunk once per node that must hold it.</summary>
    public static Dictionary<ChunkId, List<ChunkPut>> Group(IEnumerable<ChunkPut> missing)
    {
        var wanted = new Dictionary<ChunkId, List<ChunkPut>>();
        foreach (var put in missing)
        {
            var id = put.ChunkId.ToChunkId();
            if (!wanted.TryGetValue(id, out var puts))
            {
                wanted[id] = puts = [];
            }

            puts.Add(put);
        }

        return wanted;
    }

    /// <summary>
    /// Reads back the stretches of chunks <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/>
    /// (starting at byte <paramref name="offset"/>) that hold a chunk of <paramref name="wanted"/> (consecutive ones as
    /// one stretch), cuts and hashes them again and queues the wanted ones. False when a stretch no longer holds the
    /// chunks the fingerprint lists (the file changed since it was hashed).
    /// </summary>
    public static async Task<bool> PutStretchesAsync(SyncContext ctx, UploadMember m, SafeFileHandle handle, Dictionary<ChunkId, List<ChunkPut>> wanted, int first, int count, long offset, PutQueue queue, CancellationToken ct)
    {
        var fp = m.Fingerprint!;
        var full = ctx.FullPath(m.Path);
        var stretches = new List<(int First, int Count, long Offset, long Length)>();
        var taken = new HashSet<ChunkId>();
        for (var i = first; i < first + count; i++)
        {
            var c = fp.Chunks[i];
            if (wanted.ContainsKey(c.Id) && taken.Add(c.Id))
            {
                if (stretches.Count > 0 && stretches[^1] is var last && last.First + last.Count == i)
                {
                    stretches[^1] = (last.First, last.Count + 1, last.Offset, last.Length + c.Size);
                }
                else
                {
                    stretches.Add((i, 1, offset, c.Size));
                }
            }

            offset += c.Size;
        }

        foreach (var stretch in stretches)
        {
            if (!Uploader.StillAsHashed(full, fp))
            {
                return false; // written to since it was hashed: read and send no more of it
            }

            var index = stretch.First;
            await using var stream = new FileRangeStream(handle, stretch.Offset, stretch.Length);
            await foreach (var chunk in ctx.Chunker.ReadAsync(stream, keepData: true, ct).ConfigureAwait(false))
            {
                if (index >= stretch.First + stretch.Count || fp.Chunks[index].Id != chunk.Ref.Id)
                {
                    chunk.Dispose();
                    return false;
                }

                index++;
                if (wanted.Remove(chunk.Ref.Id, out var puts))
                {
                    m.Sent[chunk.Ref.Id] = chunk.Ref;
                    await queue.AddAsync(chunk, puts).ConfigureAwait(false);
                }
                else
                {
                    chunk.Dispose();
                }

                if (queue.Faulted)
                {
                    return true; // the queue's completion throws the put's error
                }
            }

            if (index != stretch.First + stretch.Count)
            {
                return false; // shorter than it was: changed
            }
        }

        return wanted.Count == 0;
    }

    public static SafeFileHandle OpenForRead(string full) =>
        File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
}
