using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// Where the simulation's files live: every world's folders (and most state directories) under <see cref="Main"/>, and
/// the state directories of the devices the seed picks under <see cref="Other"/>, another file system, so that a remote
/// delete's move into the trash is a copy across file systems there (<c>LocalTrash.CopyIn</c>) and a rename elsewhere.
/// <see cref="Other"/> is /dev/shm's counterpart (the temp folder when the sim runs on /dev/shm, else /dev/shm), or
/// <c>SIM_OTHER_FS</c>; it is taken only when its device id differs from <see cref="Main"/>'s (as LocalDeleteRaceTests
/// checks). Where the machine has one file system only, it is null and <see cref="Why"/> says so: those devices then
/// keep their state beside their folder, and the suite prints why.
/// </summary>
internal static class SimFileSystems
{
    /// <summary>The file system every world's root is made on (tmpfs when there is one).</summary>
    public static string Main { get; } = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();

    /// <summary>Another file system than <see cref="Main"/>'s, or null (see <see cref="Why"/>).</summary>
    public static string? Other { get; }

    /// <summary>What the suite prints about <see cref="Other"/>: which it is, or why there is none.</summary>
    public static string Why { get; }

    static SimFileSystems()
    {
        var candidate = Environment.GetEnvironmentVariable("SIM_OTHER_FS")
            ?? (Main == "/dev/shm" ? Path.GetTempPath() : Directory.Exists("/dev/shm") ? "/dev/shm" : null);
        if (candidate is null)
        {
            Why = $"state directories on another file system: skipped, no file system other than {Main}'s to try (set SIM_OTHER_FS)";
            return;
        }

        var (main, other) = (DeviceOf(Main), DeviceOf(candidate));
        if (main is null || other is null || main == other)
        {
            Why = $"state directories on another file system: skipped, {candidate} is on the same file system as {Main} (device {main?.ToString() ?? "unknown"}); set SIM_OTHER_FS to a folder on another one";
            return;
        }

        Other = candidate;
        Why = $"state directories on another file system: some devices' under {candidate} (device {other}), folders under {Main} (device {main})";
    }

    private static ulong? DeviceOf(string folder)
    {
        try
        {
            using var handle = FolderHandle.TryOpenRoot(folder);
            return handle?.TryIdentity()?.Device;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
