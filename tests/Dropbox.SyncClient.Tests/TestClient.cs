using Dropbox.Shared.Chunking;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A real client (real folder, real SQLite db, real engine) against a <see cref="FakeServer"/>.</summary>
internal sealed class TestClient : IDisposable
{
    public static readonly ChunkerOptions SmallChunks = new(4096, 16384, 65536);

    public TestClient(TempFolder dir, string name, FakeServer server, SyncOptions? options = null, IDurabilityBarrier? barrier = null, TimeProvider? time = null,
        Func<string, bool?>? executableBitProbe = null, Func<string, bool?>? caseProbe = null, Func<IChunkSource, IChunkSource>? chunker = null, Action<string>? log = null)
    {
        Folder = dir.CreateSub(name + "-folder");
        State = LocalState.Open(dir.CreateSub(name + "-state"));
        Context = new SyncContext
        {
            Folder = Folder,
            State = State,
            Metadata = server,
            Transfer = server,
            Chunker = (chunker ?? (c => c))(new PipelineChunkSource(new FastCdcChunker(SmallChunks), compress: true, parallelism: 2)),
            Device = name,
            Options = options ?? new SyncOptions(),
            Barrier = barrier ?? DurabilityBarrier.Default,
            Time = time ?? TimeProvider.System,
            ExecutableBitProbe = executableBitProbe ?? ExecutableBitProbe.Holds,
            CaseProbe = caseProbe ?? CaseProbe.Folds,
            Progress = log is null ? new SyncProgress() : new SyncProgress { Log = log },
        };
        Engine = new SyncEngine(Context);
    }

    public string Folder { get; }

    public LocalState State { get; }

    public SyncContext Context { get; }

    public SyncEngine Engine { get; }

    public string PathOf(string relative) => SyncPaths.ToFull(Folder, relative);

    public void Write(string relative, byte[] content)
    {
        var full = PathOf(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
    }

    public void Write(string relative, string text) => Write(relative, System.Text.Encoding.UTF8.GetBytes(text));

    public string Read(string relative) => File.ReadAllText(PathOf(relative));

    public Task<SyncSummary> SyncAsync(SyncOptions? options = null) =>
        (options is null ? Engine : EngineWith(options)).RunPassAsync(CancellationToken.None);

    /// <summary>An engine over this client's folder and db with other options, and a progress log (a test's chance to act mid-pass).</summary>
    public SyncEngine EngineWith(SyncOptions options, Action<string>? log = null) => new(new SyncContext
    {
        Folder = Context.Folder, State = State, Metadata = Context.Metadata, Transfer = Context.Transfer,
        Chunker = Context.Chunker, Device = Context.Device, Options = options, Barrier = Context.Barrier, ExecutableBitProbe = Context.ExecutableBitProbe,
        Progress = log is null ? new SyncProgress() : new SyncProgress { Log = log },
    });

    public void Dispose() => State.Dispose();

    /// <summary>The files in <paramref name="folder"/>, without the client's folder marker (see <see cref="FolderIdentity"/>).</summary>
    /// <summary>
    /// Commits <paramref name="text"/> at <paramref name="path"/> as another client would: its chunks staged by a plain upload
    /// of a client "web" first, whose staged copy is then deleted (so no copy of the text is left anywhere else). A test that
    /// commits more than once names each commit's client (<paramref name="client"/>): the first client's folder, synced again,
    /// would take in what was committed since (a case clash there too).
    /// </summary>
    public static async Task CommitAsOtherClientAsync(TempFolder dir, FakeServer server, string path, string text, string client = "web")
    {
        using var web = new TestClient(dir, client, server);
        web.Write("staging/" + path, text);
        await web.SyncAsync();
        var staged = server.Current("staging/" + path)!;
        var commit = new Dropbox.Shared.Protos.Metadata.CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await server.CommitFileAsync(commit, CancellationToken.None);
        await server.DeleteFileAsync(new Dropbox.Shared.Protos.Metadata.DeleteFileRequest { Path = "staging/" + path, Device = "web" }, CancellationToken.None);
    }

    public static string[] FilesIn(string folder, string pattern = "*", SearchOption option = SearchOption.TopDirectoryOnly) =>
        Directory.GetFiles(folder, pattern, option).Where(f => System.IO.Path.GetFileName(f) != FolderIdentity.MarkerName).ToArray();

    public static byte[] RandomBytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
