using Dropbox.MetadataNode.Services.Mapping;
using System.Security.Cryptography;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Tests.Infrastructure;

/// <summary>A real store over real RocksDB in a temp directory, with a manual clock and a fake node gateway.</summary>
internal sealed class StoreHarness : IDisposable
{
    public const string NodeA = "node-a";

    private readonly TempFolder _dir = new();

    public StoreHarness(Func<MetadataNodeOptions, MetadataNodeOptions>? configure = null, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        Options = new MetadataNodeOptions
        {
            DataDirectory = _dir.Sub("db"),
            KeysDirectory = _dir.Sub("keys"),
            Clock = Clock,
            GcInterval = TimeSpan.Zero,
            SyncWrites = false,
            EventWait = TimeSpan.FromSeconds(2),
        };
        if (configure is not null)
        {
            Options = configure(Options);
        }

        Tokens = ChunkTokenService.ForKeyDirectory(Options.KeysDirectory);
        Store = MetadataStore.Open(Options, Tokens, Gateway, logger);
        Store.Nodes.Register(new NodeRegistration(NodeA, "http://127.0.0.1:1", "http://127.0.0.1:1", 0, 0));
    }

    public ManualClock Clock { get; } = new();

    public FakeGateway Gateway { get; } = new();

    public MetadataNodeOptions Options { get; }

    public ChunkTokenService Tokens { get; }

    public MetadataStore Store { get; private set; }

    /// <param name="unclean">Open as after a crash: the clean-shutdown marker written at dispose is removed first.</param>
    /// <param name="restored">Open as a restore from a backup does: the restored marker is written first.</param>
    /// <param name="whileClosed">Runs on the data directory while the store is closed (a copy taken, or put back).</param>
    public void Reopen(bool unclean = false, bool restored = false, Action<string>? whileClosed = null)
    {
        Store.Dispose();
        whileClosed?.Invoke(Options.DataDirectory);
        if (unclean)
        {
            File.Delete(Path.Combine(Options.DataDirectory, MetadataStore.CleanShutdownMarker));
        }

        if (restored)
        {
            File.WriteAllText(Path.Combine(Options.DataDirectory, MetadataStore.RestoredMarker), "restored\n");
        }

        Store = MetadataStore.Open(Options, Tokens, Gateway);
    }

    /// <summary>Keeps the node's heartbeat fresh after the clock moved.</summary>
    public void Heartbeat() => Store.Nodes.Heartbeat(NodeA, 0, 0);

    public static ChunkRef Chunk(int seed, int size = 1000)
    {
        var bytes = new byte[8];
        BitConverter.TryWriteBytes(bytes, seed);
        return ChunkRef.Raw(new ChunkId(SHA256.HashData(bytes)), size);
    }

    public static FileUpload Upload(string path, ulong baseVersion, params ChunkRef[] chunks) =>
        FileUpload.Create(path, (ulong)chunks.Sum(c => (long)c.Size), 1, chunks, baseVersion, "test");

    /// <summary>Runs after a put's bytes are held and before its event is reported (stress tests widen that window).</summary>
    public Action? BetweenPutAndReport { get; set; }

    /// <summary>What a storage node does after a put: holds the bytes and reports them.</summary>
    public void Stored(UserInfo user, params ChunkRef[] chunks)
    {
        var report = new ReportChunksStoredRequest { NodeId = NodeA };
        foreach (var c in chunks)
        {
            Gateway.Put(NodeA, c.Id);
            report.Chunks.Add(new StoredChunk { ChunkId = c.Id.ToByteString(), Size = (uint)c.Size, Encoding = Proto.ChunkEncoding.Raw, StoredSize = (uint)c.StoredSize, NamespaceId = user.Namespace.Value });
        }

        BetweenPutAndReport?.Invoke();
        Store.ReportChunksStored(report);
        if (Gateway.Trace is not null)
        {
            foreach (var c in chunks)
            {
                Gateway.Note($"{user.Name} reported {c.Id.ToShortString()}; record now {ChunkLedger.Read(Store.Engine, c.Id)}");
            }
        }
    }

    /// <summary>Plan, "upload" what the plan asks for, commit.</summary>
    public async Task<Committed> PutFileAsync(UserInfo user, string path, ulong baseVersion, params ChunkRef[] chunks)
    {
        var plan = Store.PlanUpload(user, Upload(path, baseVersion, chunks));
        var asked = plan.Missing.Select(m => m.ChunkId).ToHashSet();
        Gateway.Note($"{user.Name} planned {path}: asked for [{string.Join(",", asked.Select(a => a.ToShortString()))}] of [{string.Join(",", chunks.Select(c => c.Id.ToShortString()))}]");
        Stored(user, chunks.Where(c => asked.Contains(c.Id)).ToArray());
        return await Store.CommitAsync(user, Upload(path, baseVersion, chunks), CancellationToken.None);
    }

    public void AssertConsistent()
    {
        var problems = Store.CheckConsistency();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    public void Dispose()
    {
        Store.Dispose();
        _dir.Dispose();
    }
}
