using System.Text.RegularExpressions;

namespace Dropbox.IntegrationTests.Docker;

/// <summary>
/// The images' recipe without a Docker engine: the Dockerfiles build on a plain Debian base that Docker's default
/// registry resolves (no registry host name in the repository), from the self-contained apps docker/build.sh publishes;
/// and those apps, published here (this machine is Debian 12 bookworm, the default base), run the compose topology
/// through the images' entrypoint with no .NET install in their way.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class DockerImageTests : IDisposable
{
    private static readonly string[] Dockerfiles = ["Dockerfile.metadata", "Dockerfile.storage"];
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Images => [.. Dockerfiles];

    [Theory]
    [MemberData(nameof(Images))]
    public void An_image_defaults_to_debian_bookworm_slim_names_no_registry_host_and_lets_BASE_override_it(string dockerfile)
    {
        // Arrange
        var image = DockerfileText.Read(Path.Combine(Binaries.RepositoryRoot, "docker", dockerfile));
        var defaults = image.ArgDefaults;

        // Act: each FROM as written and with the ARG defaults applied.
        var written = image.FromImages;
        var resolved = written.Select(f => ArgReference().Replace(f, m => defaults.GetValueOrDefault(m.Groups[1].Value) ?? "")).ToList();

        // Assert: one stage, FROM ${BASE}, BASE defaulting to debian:bookworm-slim, no host name anywhere.
        Assert.Equal(["${BASE}"], written);
        Assert.Equal(["debian:bookworm-slim"], resolved);
        Assert.All(written.Concat(resolved), from => Assert.False(NamesRegistryHost(from), $"FROM {from} names a registry host"));
        Assert.DoesNotContain("REGISTRY", defaults.Keys);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void An_image_copies_its_app_from_the_folder_build_sh_publishes_into_and_the_build_context_keeps_it(string dockerfile)
    {
        // Arrange
        var image = DockerfileText.Read(Path.Combine(Binaries.RepositoryRoot, "docker", dockerfile));
        var ignored = File.ReadAllLines(Path.Combine(Binaries.RepositoryRoot, ".dockerignore"));

        // Act
        var sources = image.ContextCopies.SelectMany(c => c.Sources).ToList();

        // Assert: the published app and the entrypoint, nothing of the source tree; neither left out of the context.
        Assert.Equal(["docker/publish/" + PublishedFolder(image) + "/", "docker/entrypoint.sh"], sources);
        Assert.All(sources, s => Assert.False(DockerIgnores(ignored, s.EndsWith('/') ? s + "libcoreclr.so" : s), $"{s} is excluded by .dockerignore"));
        Assert.True(DockerIgnores(ignored, "src/MetadataNode/Program.cs"), "the source tree should stay out of the build context");
        Assert.True(DockerIgnores(ignored, "docker/.build/obj/x"), "build.sh's intermediate files should stay out of the build context");
    }

    [Fact]
    public void The_compose_file_builds_with_the_default_base_and_needs_no_registry_prefix()
    {
        var compose = File.ReadAllText(ComposeFile.DefaultPath);

        Assert.DoesNotContain("REGISTRY", compose, StringComparison.Ordinal);
        Assert.Contains("BASE: ${BASE:-debian:bookworm-slim}", compose, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_compose_service_runs_the_image_build_sh_tags_from_its_Dockerfile()
    {
        var services = ComposeFile.Read(ComposeFile.DefaultPath, new Dictionary<string, string> { ["PUBLIC_HOST"] = "files.example.lan" });

        Assert.NotEmpty(services);
        Assert.All(services, s => Assert.Equal("dropbox-" + PublishedFolder(DockerfileText.Read(Path.Combine(Binaries.RepositoryRoot, s.Dockerfile))), s.Image));
        Assert.Contains("-t \"dropbox-$name\"", File.ReadAllText(BuildScript), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_sh_refuses_an_unknown_argument_and_publishes_nothing()
    {
        var output = _dir.Sub("publish");

        var (code, _, stderr) = await ShellCommand.RunAsync("sh", [BuildScript, "--publish-only", "--output", output, "--no-such-flag"], TimeSpan.FromSeconds(60));

        Assert.Equal(64, code);
        Assert.Contains("unknown argument '--no-such-flag'", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public async Task Build_sh_refuses_to_replace_an_output_folder_it_did_not_publish_and_leaves_it_untouched()
    {
        // Arrange: --output names a folder whose storage/ is someone's data (no marker of build.sh in it).
        var output = _dir.CreateSub("node");
        var data = Directory.CreateDirectory(Path.Combine(output, "storage")).FullName;
        await File.WriteAllTextAsync(Path.Combine(data, "chunks.log"), "a user's bytes");
        var work = _dir.Sub("work");

        // Act
        var (code, stdout, stderr) = await RunBuildScriptAsync(["--publish-only", "--output", output, "--work", work]);

        // Assert: refused, naming the folder, before anything was published, moved or deleted.
        Assert.True(code == 73, $"build.sh exited {code}:\n{stdout}\n{stderr}");
        Assert.Contains($"{data} exists and was not published by docker/build.sh", stderr, StringComparison.Ordinal);
        Assert.Equal("a user's bytes", await File.ReadAllTextAsync(Path.Combine(data, "chunks.log")));
        Assert.Equal([data], Directory.GetFileSystemEntries(output));
        Assert.Equal(["chunks.log"], Directory.GetFileSystemEntries(data).Select(Path.GetFileName));
        Assert.False(Directory.Exists(work));
    }

    [Fact]
    public async Task Build_sh_refuses_an_output_other_than_docker_publish_when_building_images_before_touching_it()
    {
        // Arrange: even a folder build.sh published before is not replaced when the arguments are refused.
        var output = _dir.CreateSub("elsewhere");
        var storage = Directory.CreateDirectory(Path.Combine(output, "storage")).FullName;
        await File.WriteAllTextAsync(Path.Combine(storage, ".dropbox-publish"), "");
        await File.WriteAllTextAsync(Path.Combine(storage, "kept"), "kept");

        // Act: no --publish-only, so the images would have to copy from docker/publish.
        var (code, _, stderr) = await RunBuildScriptAsync(["--output", output, "--work", _dir.Sub("work")]);

        // Assert
        Assert.Equal(64, code);
        Assert.Contains("the images copy from docker/publish", stderr, StringComparison.Ordinal);
        Assert.Equal("kept", await File.ReadAllTextAsync(Path.Combine(storage, "kept")));
        Assert.Equal([storage], Directory.GetFileSystemEntries(output));
        Assert.False(Directory.Exists(_dir.Sub("work")));
    }

    [Fact]
    public async Task Build_sh_under_umask_077_publishes_files_every_user_can_read_and_a_second_run_replaces_its_own_folders()
    {
        // Arrange: a first run under the strictest umask (the images run the app as uid 10001, not the publisher).
        var output = _dir.Sub("publish");
        var work = _dir.Sub("work");
        var first = await RunBuildScriptAsync(["--publish-only", "--output", output, "--work", work], umask: "077");
        Assert.True(first.Code == 0, $"build.sh failed ({first.Code}):\n{first.Stdout}\n{first.Stderr}");
        var stale = Path.Combine(output, "metadata", "stale.dll");
        await File.WriteAllTextAsync(stale, "from an earlier publish");

        // Act: publish again over the folders the first run made.
        var second = await RunBuildScriptAsync(["--publish-only", "--output", output, "--work", work], umask: "077");

        // Assert: readable by all, executables runnable by all, writable by none but the owner; replaced whole;
        // no staging folder left behind.
        Assert.True(second.Code == 0, $"build.sh failed ({second.Code}):\n{second.Stdout}\n{second.Stderr}");
        const UnixFileMode Rwxr_xr_x = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        const UnixFileMode Rw_r__r__ = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        foreach (var (name, project) in new[] { ("metadata", "MetadataNode"), ("storage", "StorageNode") })
        {
            var folder = Path.Combine(output, name);
            Assert.Equal(Rwxr_xr_x, File.GetUnixFileMode(folder));
            Assert.Equal(Rwxr_xr_x, File.GetUnixFileMode(Path.Combine(folder, "lib")));
            Assert.Equal(Rwxr_xr_x, File.GetUnixFileMode(Path.Combine(folder, "Dropbox." + project)));
            Assert.Equal(Rw_r__r__, File.GetUnixFileMode(Path.Combine(folder, "libcoreclr.so")));
            Assert.Equal(Rw_r__r__, File.GetUnixFileMode(Path.Combine(folder, "lib", "app.dll")));
            Assert.True(File.Exists(Path.Combine(folder, ".dropbox-publish")));
        }

        Assert.False(File.Exists(stale));
        Assert.Empty(Directory.GetDirectories(work, "staging.*"));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task The_self_contained_apps_build_sh_publishes_run_the_compose_topology_through_the_entrypoint_without_dotnet()
    {
        // Arrange: publish as `docker/build.sh --publish-only` does (its intermediate files apart from the source tree's).
        var output = _dir.Sub("publish");
        var (code, stdout, stderr) = await ShellCommand.RunAsync("sh", [BuildScript, "--publish-only", "--output", output, "--work", _dir.Sub("work")], TimeSpan.FromMinutes(20));
        Assert.True(code == 0, $"build.sh failed ({code}):\n{stdout}\n{stderr}");

        // Act: every service of compose.yaml from the folder its Dockerfile copies into /app.
        using var topology = await ComposeTopology.StartAsync(_dir, image => Path.Combine(output, PublishedFolder(image)));

        // Assert: each node is the published executable with the runtime loaded from its own folder, not a dotnet host.
        foreach (var (service, process) in topology.Running)
        {
            var folder = Path.Combine(output, PublishedFolder(DockerfileText.Read(Path.Combine(Binaries.RepositoryRoot, topology.Services.Single(s => s.Name == service).Dockerfile))));
            var executable = File.ResolveLinkTarget($"/proc/{process.Id}/exe", returnFinalTarget: false)?.FullName;
            Assert.StartsWith(folder + "/Dropbox.", executable, StringComparison.Ordinal);
            Assert.Contains(Path.Combine(folder, "libcoreclr.so"), await File.ReadAllTextAsync($"/proc/{process.Id}/maps"), StringComparison.Ordinal);
        }

        await ComposeTopologyTests.AFileSyncsBetweenTwoClientsAsync(topology, _dir);
    }

    private static string BuildScript => Path.Combine(Binaries.RepositoryRoot, "docker", "build.sh");

    /// <summary>
    /// Runs build.sh (under <paramref name="umask"/> when given) with a stand-in for <c>dotnet publish</c> first on PATH: it
    /// writes, with the umask's modes, what build.sh checks (the app's executable, libcoreclr.so) and a file in a
    /// sub-folder, in seconds. The real publish is the slow test's.
    /// </summary>
    private async Task<(int Code, string Stdout, string Stderr)> RunBuildScriptAsync(string[] args, string? umask = null)
    {
        var bin = _dir.CreateSub("fake-dotnet-bin");
        var dotnet = Path.Combine(bin, "dotnet");
        await File.WriteAllTextAsync(dotnet, """
            #!/bin/sh
            set -eu
            out= app=
            while [ "$#" -gt 0 ]; do
              case "$1" in
                -o) out="$2"; shift ;;
                *.csproj) app="$(basename "$1" .csproj)" ;;
              esac
              shift
            done
            mkdir -p "$out/lib"
            printf '#!/bin/sh\n' > "$out/$app"
            chmod u+x "$out/$app"
            : > "$out/libcoreclr.so"
            : > "$out/lib/app.dll"
            """);
        File.SetUnixFileMode(dotnet, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var environment = new Dictionary<string, string> { ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH") };
        string[] command = umask is null ? [BuildScript, .. args] : ["-c", $"umask {umask} && exec sh \"$0\" \"$@\"", BuildScript, .. args];
        return await ShellCommand.RunAsync("sh", command, TimeSpan.FromSeconds(60), environment);
    }

    /// <summary>The folder under docker/publish/ that the image copies to /app.</summary>
    private static string PublishedFolder(DockerfileText image)
    {
        var copy = image.ContextCopies.Single(c => c.Destination == "/app/");
        var m = PublishSource().Match(copy.Sources.Single());
        return m.Success ? m.Groups[1].Value : throw new InvalidOperationException($"{image.Path} copies /app from {copy.Sources.Single()}, not docker/publish/NAME/");
    }

    /// <summary>A registry host is a first path component with a dot or a port, or localhost (Docker's rule).</summary>
    private static bool NamesRegistryHost(string image)
    {
        var slash = image.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? string.Empty : image[..slash];
        return first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost";
    }

    /// <summary>
    /// Whether .dockerignore leaves <paramref name="path"/> out of the build context: a pattern matches the path or one of
    /// its parent folders (<c>**</c> any number of folders, <c>*</c> and <c>?</c> within one name, <c>!</c> re-includes).
    /// </summary>
    private static bool DockerIgnores(IEnumerable<string> patterns, string path)
    {
        var excluded = false;
        foreach (var raw in patterns)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var include = line.StartsWith('!');
            var pattern = (include ? line[1..] : line).Trim('/');
            var regex = new Regex("^" + Regex.Escape(pattern).Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal).Replace(@"\*", "[^/]*", StringComparison.Ordinal).Replace(@"\?", "[^/]", StringComparison.Ordinal) + "(/.*)?$");
            if (regex.IsMatch(path))
            {
                excluded = !include;
            }
        }

        return excluded;
    }

    [GeneratedRegex(@"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")]
    private static partial Regex ArgReference();

    [GeneratedRegex(@"^docker/publish/([a-z]+)/$")]
    private static partial Regex PublishSource();
}
