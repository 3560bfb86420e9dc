using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests;

/// <summary>What opening the client state tightens on Unix: its folder and its own files, nothing else.</summary>
public sealed class LocalStateModeTests : IDisposable
{
    private const UnixFileMode Executable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Opening_the_state_tightens_its_folder_and_database_but_leaves_trash_and_foreign_files_as_they_were()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var state = Path.Combine(_dir.Path, "state");
        var trashed = Path.Combine(state, "trash", "20261201", "bin", "deploy.sh");
        Directory.CreateDirectory(Path.GetDirectoryName(trashed)!);
        File.WriteAllText(trashed, "#!/bin/sh\n");
        File.SetUnixFileMode(trashed, Executable);
        var foreign = Path.Combine(state, "notes.txt");
        File.WriteAllText(foreign, "mine");
        File.SetUnixFileMode(foreign, Executable);
        File.SetUnixFileMode(state, Executable);
        using (LocalState.Open(state))
        {
        }

        var database = Path.Combine(state, LocalState.DatabaseFileName);
        File.SetUnixFileMode(database, Executable);
        using (LocalState.Open(state))
        {
        }

        Assert.Equal(Dropbox.Shared.IO.PrivateFolder.Mode, File.GetUnixFileMode(state));
        Assert.Equal(Dropbox.Shared.IO.PrivateFile.Mode, File.GetUnixFileMode(database));
        Assert.Equal(Executable, File.GetUnixFileMode(trashed));
        Assert.Equal(Executable, File.GetUnixFileMode(foreign));
    }
}
