using System.Text.Json;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>
/// The real client, as a real process, linked to a <see cref="HostileServer"/>: its folder and state directory sit
/// in a test root beside an "outside" folder (a symbolic link target) that nothing may ever touch.
/// </summary>
internal sealed class HostileClient
{
    private readonly HostileServer _server;

    public HostileClient(TempFolder dir, HostileServer server)
    {
        _server = server;
        Root = dir.Path;
        Folder = dir.CreateSub("victim");
        State = dir.CreateSub("state");
        Outside = dir.CreateSub("outside");
        File.WriteAllText(Path.Combine(Outside, "precious.txt"), "must survive");
    }

    /// <summary>The parent of the sync folder.</summary>
    public string Root { get; }

    public string Folder { get; }

    public string State { get; }

    /// <summary>A folder outside the sync folder (target of the links tests plant in it).</summary>
    public string Outside { get; }

    public string PathOf(string relative) => Path.Combine(Folder, relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Everything under the root except the sync folder and the state directory: what must never change.</summary>
    public string[] OutsideTree() =>
    [
        .. Directory.EnumerateFileSystemEntries(Root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Where(p => !IsUnder(p, Folder) && !IsUnder(p, State))
            .Select(p => Path.GetRelativePath(Root, p) + (File.Exists(p) ? ":" + File.ReadAllText(p) : "/"))
            .Order(StringComparer.Ordinal),
    ];

    /// <summary>Files and folders inside the sync folder, relative, '/'-separated (without the client's folder marker at the root).</summary>
    public string[] FolderTree() =>
    [
        .. Directory.EnumerateFileSystemEntries(Folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => Path.GetRelativePath(Folder, p).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(p => p != ".dropbox-folder-id")
            .Order(StringComparer.Ordinal),
    ];

    public async Task LoginAsync()
    {
        var r = await RunAsync("login", "--server", _server.MetadataUrl, "--token", "any", "--folder", Folder, "--device", "victim");
        Assert.True(r.ExitCode == 0, $"login failed: {r}");
    }

    public async Task<ClientResult> RunAsync(params string[] args)
    {
        using var p = ChildProcess.Start(Binaries.SyncClient, [.. args, "--state", State]);
        var code = await p.WaitForExitAsync(ClientProcess.VerbTimeout);
        return new ClientResult(code, p.Stdout, p.Stderr);
    }

    /// <summary><c>sync --once --json</c>: never a crash, always a summary line.</summary>
    public async Task<(ClientResult Result, JsonElement Summary)> SyncAsync()
    {
        var r = await RunAsync("sync", "--once", "--json");
        Assert.True(r.ExitCode is 0 or 1, $"the client crashed or failed oddly: {r}");
        Assert.DoesNotContain("Unhandled exception", r.Stderr, StringComparison.Ordinal);
        var last = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        Assert.True(last is not null && last.StartsWith('{'), $"no JSON summary: {r}");
        return (r, JsonDocument.Parse(last).RootElement.Clone());
    }

    private static bool IsUnder(string path, string folder) =>
        path == folder || path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
