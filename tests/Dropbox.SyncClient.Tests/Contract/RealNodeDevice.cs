using Dropbox.Shared.Chunking;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>
/// A device against real nodes (<see cref="RealNodes"/>): its folder and db; each pass a fresh engine (as <c>sync --once</c>)
/// against the node's current URL. Its state directory lies beside its folder, or inside it at <paramref name="stateInFolder"/>
/// (a relative path, as <c>--folder ~ --state ~/.cfg/client-state</c> puts it).
/// </summary>
internal sealed class RealNodeDevice(TempFolder dir, string name, string token, string? stateInFolder = null) : IDisposable
{
    private readonly Dropbox.Shared.Channels.GrpcChannelCache _channels = ClientChannels.Create(ServerTrust.System);

    public string Name { get; } = name;

    public string Folder { get; } = dir.CreateSub(name + "-folder");

    public LocalState State { get; } = LocalState.Open(stateInFolder is null ? dir.CreateSub(name + "-state") : SyncPaths.ToFull(dir.Sub(name + "-folder"), stateInFolder));

    public string PathOf(string relative) => SyncPaths.ToFull(Folder, relative);

    public void Write(string relative, string text)
    {
        var full = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
    }

    public string Read(string relative) => File.ReadAllText(PathOf(relative));

    public GrpcMetadataRemote Remote(string url) => new(_channels, url, token);

    /// <summary>Tests: runs right before each MoveFile this device's passes send.</summary>
    public Func<Dropbox.Shared.Protos.Metadata.MoveFileRequest, Task>? BeforeMoveFile { get; set; }

    /// <summary>Tests: runs right after each ListFiles answer this device's passes receive.</summary>
    public Func<Dropbox.Shared.Protos.Metadata.ListFilesRequest, Task>? AfterListFiles { get; set; }

    /// <summary>Whole listings this device's passes have started (see <see cref="ListingCountingRemote"/>).</summary>
    public int WholeListings { get; private set; }

    public async Task<SyncSummary> SyncAsync(string url)
    {
        var remote = new ListingCountingRemote(Remote(url)) { BeforeMoveFile = BeforeMoveFile, AfterListFiles = AfterListFiles };
        await RealNodeContractTests.WaitForStorageAsync(remote, CancellationToken.None);
        var engine = new SyncEngine(new SyncContext
        {
            Folder = Folder,
            State = State,
            Metadata = remote,
            Transfer = new GrpcChunkTransfer(_channels),
            Chunker = new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: true, parallelism: 2),
            Device = Name,
            Options = new SyncOptions(),
        });
        try
        {
            return await engine.RunPassAsync(CancellationToken.None);
        }
        finally
        {
            WholeListings += remote.WholeListings;
        }
    }

    public void Dispose()
    {
        State.Dispose();
        _channels.Dispose();
    }
}
