using System.Text.Json;

namespace Dropbox.IntegrationTests.Client;

/// <summary>One sync client: a folder, a state directory, and its verbs run as real processes.</summary>
internal sealed class ClientProcess
{
    public static readonly TimeSpan VerbTimeout = TimeSpan.FromSeconds(120);
    private readonly IClientTarget _cluster;

    public ClientProcess(IClientTarget cluster, string name, string folder, string state, string? binary = null)
    {
        _cluster = cluster;
        Name = name;
        Folder = folder;
        State = state;
        Binary = binary ?? Binaries.SyncClient;
    }

    /// <summary>The client run: the built Dropbox.SyncClient.dll (under dotnet), or a natively compiled executable.</summary>
    public string Binary { get; }

    public string Name { get; }

    public string Folder { get; }

    public string State { get; }

    public string PathOf(string relative) => Path.Combine(Folder, relative.Replace('/', Path.DirectorySeparatorChar));

    public void Write(string relative, byte[] content)
    {
        var full = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
    }

    public void Write(string relative, string text) => Write(relative, System.Text.Encoding.UTF8.GetBytes(text));

    public string Read(string relative) => File.ReadAllText(PathOf(relative));

    public ChildProcess Start(params string[] args) => ChildProcess.Start(Binary, [.. args, "--state", State]);

    public async Task<ClientResult> RunAsync(params string[] args)
    {
        using var p = Start(args);
        var code = await p.WaitForExitAsync(VerbTimeout);
        return new ClientResult(code, p.Stdout, p.Stderr);
    }

    public async Task LoginAsync()
    {
        string[] trust = _cluster.CaFile is { } ca ? ["--ca", ca] : [];
        var r = await RunAsync(["login", "--server", _cluster.MetadataUrl, "--token", _cluster.Token, "--folder", Folder, "--device", Name, .. trust]);
        Assert.True(r.ExitCode == 0, $"login failed: {r}");
    }

    /// <summary><c>sync --once --json</c>; asserts success unless told otherwise and returns the summary.</summary>
    public async Task<SyncJson> SyncAsync(bool expectSuccess = true, params string[] extra)
    {
        var r = await RunAsync(["sync", "--once", "--json", .. extra]);
        if (expectSuccess)
        {
            Assert.True(r.ExitCode == 0, $"{Name}: sync failed: {r}\n{_cluster.Logs}");
        }

        return r.Json ?? throw new InvalidOperationException($"{Name}: no JSON summary: {r}");
    }
}

/// <summary>How a client verb ended.</summary>
internal sealed record ClientResult(int ExitCode, string Stdout, string Stderr)
{
    public SyncJson? Json
    {
        get
        {
            var last = Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            return last is not null && last.StartsWith('{') ? JsonSerializer.Deserialize<SyncJson>(last) : null;
        }
    }

    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>The <c>sync --json</c> summary line.</summary>
internal sealed record SyncJson
{
    [System.Text.Json.Serialization.JsonPropertyName("filesUploaded")] public long FilesUploaded { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("filesDownloaded")] public long FilesDownloaded { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("filesDeleted")] public long FilesDeleted { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("bytesUploaded")] public long BytesUploaded { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("chunksUploaded")] public long ChunksUploaded { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("chunksDeduplicated")] public long ChunksDeduplicated { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("bytesDownloaded")] public long BytesDownloaded { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("conflicts")] public long Conflicts { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("errors")] public long Errors { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("filesMoved")] public long FilesMoved { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("chunksDownloaded")] public long ChunksDownloaded { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("chunksReused")] public long ChunksReused { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("skipped")] public long Skipped { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("repairs")] public long Repairs { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("pending")] public long Pending { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("peakMemoryBytes")] public long PeakMemoryBytes { get; init; }
}
