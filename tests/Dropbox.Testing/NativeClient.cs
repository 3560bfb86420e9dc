using System.Diagnostics;

namespace Dropbox.Testing;

/// <summary>
/// The sync client compiled natively (ahead of time), as the README tells a user to publish it: <c>dotnet publish
/// src/SyncClient -c Release -p:PublishAot=true -o DIR</c>. Published once per test run, into a temporary folder; a
/// publish that fails (no C toolchain, a trimming or AOT error) fails the test that asked, with the publish's output.
/// </summary>
public static class NativeClient
{
    /// <summary>Longest a publish may take (about 1.5 min of CPU on a 2-core machine, plus a restore of the compiler package).</summary>
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(15);

    private static readonly Lazy<Task<string>> Published = new(PublishAsync);

    /// <summary>The natively compiled client's executable.</summary>
    public static Task<string> ExecutableAsync() => Published.Value;

    private static async Task<string> PublishAsync()
    {
        var output = Path.Combine(Path.GetTempPath(), "dropbox-native-client-" + Guid.NewGuid().ToString("N")[..12]);
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Binaries.RepositoryRoot,
        };
        foreach (var a in new[] { "publish", Path.Combine("src", "SyncClient", "Dropbox.SyncClient.csproj"), "-c", "Release", "-p:PublishAot=true", "-o", output, "-nologo", "-nodeReuse:false" })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var publish = Process.Start(info) ?? throw new InvalidOperationException("dotnet publish did not start");
        var stdout = publish.StandardOutput.ReadToEndAsync();
        var stderr = publish.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(PublishTimeout);
        try
        {
            await publish.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            publish.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet publish of the native client took longer than {PublishTimeout}:\n{await stdout}\n{await stderr}");
        }

        var executable = Path.Combine(output, "Dropbox.SyncClient");
        return publish.ExitCode == 0 && File.Exists(executable)
            ? executable
            : throw new InvalidOperationException($"dotnet publish of the native client failed (exit {publish.ExitCode}; it needs clang: apt-get install clang):\n{await stdout}\n{await stderr}");
    }
}
