using System.Diagnostics;
using System.Text.Json;
using Dropbox.IntegrationTests.Client;

namespace Dropbox.IntegrationTests.Docker;

/// <summary>
/// docker/entrypoint.sh, the images' entrypoint, run as a script (no Docker engine here): it stops with a clear message
/// when PUBLIC_HOST is missing for a command that needs it, and otherwise runs the node with the arguments given: the
/// self-contained executable where the folder holds the runtime (the images), else <c>dotnet APP.dll</c>.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // the images and their entrypoint are Linux only
public sealed class DockerEntrypointTests
{
    private static readonly string Script = Path.Combine(Binaries.RepositoryRoot, "docker", "entrypoint.sh");

    [Theory]
    [InlineData("Dropbox.StorageNode.dll", "--data", "/data")]
    [InlineData("Dropbox.MetadataNode.dll", "tls", "init")]
    public async Task A_storage_node_or_tls_init_without_PUBLIC_HOST_fails_fast_naming_the_variable(string dll, string arg1, string arg2)
    {
        var (code, _, stderr) = await RunAsync(new Dictionary<string, string?> { ["PUBLIC_HOST"] = null }, dll, arg1, arg2);

        Assert.Equal(64, code);
        Assert.Contains("PUBLIC_HOST is not set", stderr, StringComparison.Ordinal);
        Assert.Contains("clients use to reach this machine", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_PUBLIC_HOST_set_the_entrypoint_runs_the_node_with_its_arguments()
    {
        // A bad argument reaches the storage node itself, which names it (exit 2): the script passed it through.
        var (code, _, stderr) = await RunAsync(
            new Dictionary<string, string?> { ["PUBLIC_HOST"] = "files.example.lan", ["APP_DIR"] = Path.GetDirectoryName(Binaries.StorageNode) },
            "Dropbox.StorageNode.dll", "--no-such-flag");

        Assert.Equal(2, code);
        Assert.Contains("Unknown argument '--no-such-flag'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admin_verbs_of_the_metadata_image_do_not_need_PUBLIC_HOST()
    {
        var (code, stdout, _) = await RunAsync(
            new Dictionary<string, string?> { ["PUBLIC_HOST"] = null, ["APP_DIR"] = Path.GetDirectoryName(Binaries.MetadataNode) },
            "Dropbox.MetadataNode.dll", "help");

        Assert.Equal(0, code);
        Assert.Contains("user add NAME", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task In_a_self_contained_folder_the_entrypoint_runs_the_apps_own_executable_not_dotnet()
    {
        // Arrange: an "executable" that only echoes its arguments; no Dropbox.StorageNode.dll in its folder.
        using var dir = new TempFolder();
        await SelfContainedAppAsync(dir, "Dropbox.StorageNode", "echo \"self-contained: $*\"");

        // Act: as the image's ENTRYPOINT names it, and as the older ".dll" name.
        var plain = await RunAsync(new Dictionary<string, string?> { ["PUBLIC_HOST"] = "files.example.lan", ["APP_DIR"] = dir.Path }, "Dropbox.StorageNode", "--data", "/data");
        var dll = await RunAsync(new Dictionary<string, string?> { ["PUBLIC_HOST"] = "files.example.lan", ["APP_DIR"] = dir.Path }, "Dropbox.StorageNode.dll", "--data", "/data");

        // Assert
        Assert.Equal((0, "self-contained: --data /data\n", ""), plain);
        Assert.Equal(plain, dll);
    }

    [Fact]
    public async Task The_entrypoint_gives_the_node_a_16_MiB_first_generation_budget_unless_the_operator_set_one()
    {
        // Arrange: an "executable" that prints the variable it was started with.
        using var dir = new TempFolder();
        await SelfContainedAppAsync(dir, "Dropbox.MetadataNode", "echo \"gen0=${DOTNET_GCgen0size-unset}\"");

        // Act
        var byDefault = await RunAsync(new Dictionary<string, string?> { ["APP_DIR"] = dir.Path, ["DOTNET_GCgen0size"] = null }, "Dropbox.MetadataNode", "help");
        var operators = await RunAsync(new Dictionary<string, string?> { ["APP_DIR"] = dir.Path, ["DOTNET_GCgen0size"] = "0x2000000" }, "Dropbox.MetadataNode", "help");

        // Assert: the appliance's launch profile (what `dotnet run` applies) says the same, so the two do not drift.
        Assert.Equal((0, "gen0=0x1000000\n", ""), byDefault);
        Assert.Equal((0, "gen0=0x2000000\n", ""), operators);
        using var profile = JsonDocument.Parse(File.ReadAllText(Path.Combine(Binaries.RepositoryRoot, "src", "Appliance", "Properties", "launchSettings.json")));
        var project = profile.RootElement.GetProperty("profiles").EnumerateObject().Single(p => p.Value.GetProperty("commandName").GetString() == "Project");
        Assert.Equal("0x1000000", project.Value.GetProperty("environmentVariables").GetProperty("DOTNET_GCgen0size").GetString());
    }

    [Fact]
    public async Task A_folder_with_neither_a_self_contained_app_nor_its_dll_is_named_in_the_error()
    {
        using var dir = new TempFolder();

        var (code, _, stderr) = await RunAsync(new Dictionary<string, string?> { ["PUBLIC_HOST"] = null, ["APP_DIR"] = dir.Path }, "Dropbox.MetadataNode", "help");

        Assert.Equal(70, code);
        Assert.Contains($"{dir.Path} holds neither a self-contained Dropbox.MetadataNode (run docker/build.sh) nor Dropbox.MetadataNode.dll", stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Makes <paramref name="dir"/> look like docker/build.sh's output (the runtime beside the app's executable), the
    /// "executable" <paramref name="app"/> a shell script running <paramref name="line"/>.
    /// </summary>
    private static async Task SelfContainedAppAsync(TempFolder dir, string app, string line)
    {
        await File.WriteAllBytesAsync(Path.Combine(dir.Path, "libcoreclr.so"), []);
        var path = Path.Combine(dir.Path, app);
        await File.WriteAllTextAsync(path, $"#!/bin/sh\n{line}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(Dictionary<string, string?> environment, params string[] args)
    {
        var info = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Script);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment)
        {
            if (value is null)
            {
                info.Environment.Remove(key);
            }
            else
            {
                info.Environment[key] = value;
            }
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
