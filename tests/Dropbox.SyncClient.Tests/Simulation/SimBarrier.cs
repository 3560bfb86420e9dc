using Dropbox.SyncClient.Local;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>The real durability barrier, each of whose calls is also a local step a crash may stop at (after it: bytes durable, not yet renamed).</summary>
internal sealed class SimBarrier(SimWorld world, SimDevice device) : IDurabilityBarrier
{
    public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files)
    {
        DurabilityBarrier.Default.FlushFiles(folder, files);
        world.LocalStep(device, "flush " + files.Count + " file(s)");
    }

    public void FlushDirectories(IReadOnlyCollection<string> directories)
    {
        DurabilityBarrier.Default.FlushDirectories(directories);
        world.LocalStep(device, "flush " + directories.Count + " folder(s)");
    }

    public IReadOnlyList<Exception?> FlushFolders(IReadOnlyList<FolderHandle> folders)
    {
        var failures = DurabilityBarrier.FlushEach(folders);
        world.LocalStep(device, "flush " + folders.Count + " folder(s)");
        return failures;
    }
}
