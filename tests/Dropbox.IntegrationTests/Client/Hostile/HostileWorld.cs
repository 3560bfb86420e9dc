using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Google.Protobuf;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>
/// What the hostile servers say: a listing, a change feed, download plans and chunk bytes, each of which a test may
/// twist (escaping paths, wrong bytes, absurd sizes and times, endless pages). Shared by the fake metadata node and
/// the fake storage node.
/// </summary>
internal sealed class HostileWorld
{
    /// <summary>Where the fake storage node listens (set once it has started).</summary>
    public string StorageUrl { get; set; } = string.Empty;

    /// <summary>The full listing ListFiles answers by default (one page, cursor "c1").</summary>
    public List<FileEntry> Listing { get; } = [];

    /// <summary>Replaces the default ListFiles answer.</summary>
    public Func<ListFilesRequest, ListFilesResponse>? ListFiles { get; set; }

    /// <summary>Replaces the default ListChanges answer (no changes, the same cursor).</summary>
    public Func<ListChangesRequest, ListChangesResponse>? ListChanges { get; set; }

    /// <summary>Answers PlanUpload (unset: UNIMPLEMENTED).</summary>
    public Func<PlanUploadRequest, PlanUploadResponse>? PlanUpload { get; set; }

    /// <summary>Download plans by the path asked for.</summary>
    public ConcurrentDictionary<string, GetDownloadPlanResponse> Plans { get; } = new(StringComparer.Ordinal);

    /// <summary>What the storage node sends for a chunk id: a header and the data bytes (either may lie).</summary>
    public ConcurrentDictionary<ChunkId, (ChunkHeader Header, byte[] Data)> Chunks { get; } = new();

    /// <summary>Called with the path at every GetDownloadPlan, before it answers (a test's moment to change the disk).</summary>
    public Action<string>? OnDownloadPlan { get; set; }

    /// <summary>Called with the chunk id at every chunk the storage node is asked for, before it answers.</summary>
    public Action<ChunkId>? OnGetChunk { get; set; }

    /// <summary>
    /// True: CommitFiles and ListChanges take the call and never answer (a server hung under load); the call ends only
    /// when the client gives up on it.
    /// </summary>
    public bool Hang { get; set; }

    private int _hungCalls;

    /// <summary>Calls the server took and held without answering, each ended by the client.</summary>
    public int HungCalls => Volatile.Read(ref _hungCalls);

    public void CountHung() => Interlocked.Increment(ref _hungCalls);

    /// <summary>Every cursor ListChanges was asked with, in order.</summary>
    public ConcurrentQueue<string> CursorsAsked { get; } = new();

    private int _listFilesCalls;
    private int _listChangesCalls;
    private int _planUploadsCalls;

    public int ListFilesCalls => Volatile.Read(ref _listFilesCalls);

    public int ListChangesCalls => Volatile.Read(ref _listChangesCalls);

    public void CountListFiles() => Interlocked.Increment(ref _listFilesCalls);

    public void CountListChanges() => Interlocked.Increment(ref _listChangesCalls);

    /// <summary>PlanUploads calls received (each answered UNIMPLEMENTED, as an older server does).</summary>
    public int PlanUploadsCalls => Volatile.Read(ref _planUploadsCalls);

    public void CountPlanUploads() => Interlocked.Increment(ref _planUploadsCalls);

    /// <summary>
    /// A file the servers serve honestly unless twisted afterwards: one raw chunk, an entry (added to the listing
    /// unless <paramref name="listed"/> is false), a plan and the chunk's bytes.
    /// </summary>
    public FileEntry AddFile(string path, byte[] content, long mtimeUnixMs = 1_700_000_000_000, bool listed = true, ulong version = 1)
    {
        var id = ChunkId.Compute(content);
        var chunkRef = new Dropbox.Shared.Protos.Common.ChunkRef { Id = id.ToByteString(), Size = (uint)content.Length, StoredSize = (uint)content.Length };
        var entry = new FileEntry
        {
            Path = path,
            Version = version,
            Size = (ulong)content.Length,
            MtimeUnixMs = mtimeUnixMs,
            ContentHash = ByteString.CopyFrom(FileVersion.ComputeContentHash([id])),
        };
        entry.Chunks.Add(chunkRef);
        if (listed)
        {
            Listing.Add(entry);
        }

        var plan = new GetDownloadPlanResponse { Entry = entry.Clone() };
        var get = new ChunkGet { Chunk = chunkRef.Clone() };
        get.Nodes.Add(new ChunkLocation { NodeId = "evil-1", GrpcUrl = StorageUrl, HttpUrl = StorageUrl });
        get.Tokens.Add("token");
        plan.Chunks.Add(get);
        Plans[path] = plan;
        Chunks[id] = (new ChunkHeader { ChunkId = id.ToByteString(), PlainSize = (uint)content.Length, StoredSize = (uint)content.Length }, content);
        return entry;
    }
}
