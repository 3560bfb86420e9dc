using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class DaemonEventFilterTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Watcher_events_for_ignored_paths_temp_files_and_the_state_directory_do_not_cause_passes()
    {
        var folder = _dir.CreateSub("folder");
        var state = _dir.CreateSub("folder/.state");
        Directory.CreateDirectory(Path.Combine(folder, "build", "obj"));
        var root = IgnoreMatcher.Create(["build/"]);
        var ignore = new IgnoreTree(root);
        ignore.Set("docs", root.WithFile("docs", ["*.bak"]));
        bool Matters(string relative) => FolderWatch.Matters(folder, state, ignore, Path.Combine(folder, relative));

        Assert.True(Matters("notes.txt"));
        Assert.True(Matters("docs/a.md"));
        Assert.True(Matters("build/.dropboxignore")); // an ignore file may change what is ignored
        Assert.False(Matters("build/obj/x.o"));
        Assert.False(Matters("build"));
        Assert.False(Matters("docs/old.bak"));
        Assert.False(Matters("report.swp"));
        Assert.False(Matters(IgnoreMatcher.TempPrefix + "0123"));
        Assert.False(Matters(".state/client.db-wal"));
    }
}
