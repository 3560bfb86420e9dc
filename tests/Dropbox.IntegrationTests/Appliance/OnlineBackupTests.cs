using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.MetadataNodeTests;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// The online backup and check as an operator runs them: <c>standalone</c> with two storage nodes (child processes)
/// serving a real client, <c>backup</c> while another upload runs, then everything stopped, the backup folders put in
/// place of fresh ones, the appliance started on them and every file committed before the backup downloaded.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class OnlineBackupTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly TempFolder _restoredDir = new();

    public void Dispose()
    {
        _dir.Dispose();
        _restoredDir.Dispose();
    }

    [Fact]
    public async Task An_online_backup_taken_during_an_upload_restores_every_file_committed_before_it_byte_identical()
    {
        // Arrange: three files committed, then a larger upload still running when the backup starts.
        var files = new Dictionary<string, byte[]>
        {
            ["tiny.bin"] = RandomNumberGenerator.GetBytes(1),
            ["docs/report.bin"] = RandomNumberGenerator.GetBytes(700_000),
            ["video.bin"] = RandomNumberGenerator.GetBytes(6 * 1024 * 1024 + 3),
        };
        var late = RandomNumberGenerator.GetBytes(32 * 1024 * 1024);
        string backupName;
        string token;
        var data = Path.Combine(_dir.Path, "appliance");
        using (var appliance = await StandaloneNodes.StartAsync(_dir, nodes: 2, replicas: 1, deadAfterSeconds: 30))
        {
            token = appliance.Token;
            string[] asAdmin = ["--server", appliance.Url, "--token", token];
            var (folder, state) = await appliance.LoginAsync("alpha");
            foreach (var (path, bytes) in files)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder, path))!);
                await File.WriteAllBytesAsync(Path.Combine(folder, path), bytes);
            }

            using (var first = StandaloneNodes.StartClient(state, "sync", "--once"))
            {
                await StandaloneNodes.ExpectSuccessAsync(first, "first sync");
            }

            await File.WriteAllBytesAsync(Path.Combine(folder, "late.bin"), late);
            using var upload = StandaloneNodes.StartClient(state, "sync", "--once");

            // Act: the backup while the upload runs.
            var backup = await MetadataProcess.RunVerbAsync(["backup", .. asAdmin]);
            await StandaloneNodes.ExpectSuccessAsync(upload, "upload during the backup");

            // Assert: every part was written, the storage nodes' on their own data file system (hard links).
            Assert.True(backup.ExitCode == 0, backup.Stdout + backup.Stderr);
            backupName = BackupLine().Match(backup.Stdout).Groups[1].Value;
            var root = Path.Combine(data, "backups", backupName);
            Assert.Contains($"metadata: {Path.Combine(root, "metadata")}", backup.Stdout, StringComparison.Ordinal);
            Assert.Contains($"keys: {Path.Combine(root, "keys")}", backup.Stdout, StringComparison.Ordinal);
            Assert.Contains($"storage storage-1: {Path.Combine(root, "storage")} (", backup.Stdout, StringComparison.Ordinal);
            Assert.Contains($"storage storage-2: {Path.Combine(root, "storage-2")} (", backup.Stdout, StringComparison.Ordinal);
            Assert.EndsWith("complete", backup.Stdout.TrimEnd(), StringComparison.Ordinal);
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(root, "keys")));

            // The online check finds the live store consistent and every referenced chunk on a live node.
            var check = await MetadataProcess.RunVerbAsync(["check", "--verify-chunks", .. asAdmin]);
            Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
            Assert.Contains("consistent", check.Stdout, StringComparison.Ordinal);
            Assert.Matches(@"chunks confirmed on live storage nodes: [1-9]\d*", check.Stdout);

            // A user who is not an admin gets neither, and the refused backup writes nothing.
            var bob = await MetadataProcess.RunVerbAsync(["user", "add", "bob", .. asAdmin]);
            Assert.True(bob.ExitCode == 0, bob.Stderr);
            var bobToken = TokenLine().Match(bob.Stdout).Groups[1].Value;
            foreach (var verb in new[] { "check", "backup" })
            {
                var refused = await MetadataProcess.RunVerbAsync(verb, "--server", appliance.Url, "--token", bobToken);
                Assert.NotEqual(0, refused.ExitCode);
                Assert.Contains("not an admin", refused.Stderr, StringComparison.Ordinal);
            }

            Assert.Single(Directory.GetDirectories(Path.Combine(data, "backups")));

            appliance.Process.Signal(15);
            Assert.Equal(0, await appliance.Process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }

        // Restore: the backup's folders in place of a fresh data folder's, then start.
        var restored = _restoredDir.CreateSub("appliance");
        CopyTree(Path.Combine(data, "backups", backupName), restored);
        using (var appliance = await StandaloneNodes.StartAsync(_restoredDir, nodes: 2, replicas: 1, deadAfterSeconds: 30))
        {
            var (folder, state) = await LoginAsync(appliance, token);
            using (var sync = StandaloneNodes.StartClient(state, "sync", "--once"))
            {
                await StandaloneNodes.ExpectSuccessAsync(sync, "sync from the restored appliance");
            }

            foreach (var (path, bytes) in files)
            {
                Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(folder, path)));
            }

            // The upload that raced the backup is there whole, or not at all.
            var lateCopy = Path.Combine(folder, "late.bin");
            if (File.Exists(lateCopy))
            {
                Assert.Equal(late, await File.ReadAllBytesAsync(lateCopy));
            }

            var check = await MetadataProcess.RunVerbAsync("check", "--verify-chunks", "--server", appliance.Url, "--token", token);
            Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        }
    }

    private async Task<(string Folder, string State)> LoginAsync(StandaloneNodes appliance, string token)
    {
        var folder = _restoredDir.CreateSub("beta-folder");
        var state = _restoredDir.CreateSub("beta-state");
        using var login = StandaloneNodes.StartClient(state, "login", "--server", appliance.Url, "--token", token, "--folder", folder, "--device", "beta");
        await StandaloneNodes.ExpectSuccessAsync(login, "login");
        return (folder, state);
    }

    private static void CopyTree(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }

        foreach (var folder in Directory.GetDirectories(source))
        {
            CopyTree(folder, Path.Combine(destination, Path.GetFileName(folder)));
        }
    }

    [GeneratedRegex(@"^backup: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex BackupLine();

    [GeneratedRegex(@"token:\s*(\S+)")]
    private static partial Regex TokenLine();
}
