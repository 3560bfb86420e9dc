using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Tests.Engine.Faults;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Tests.Engine;

/// <summary>
/// What the tests of the direct-I/O fallbacks' log lines share: a real engine's options over real files (ext4) through
/// <see cref="FaultyFiles"/> (which refuses O_DIRECT or fails direct reads where a test asks), direct reads and writes on,
/// and a logger that keeps every entry from information level on.
/// </summary>
public abstract class DirectIoLogFixture : IDisposable
{
    /// <summary>A segment's direct reads turned off (warning).</summary>
    protected const int SegmentOff = 2018;

    /// <summary>The file system took O_DIRECT but refuses direct writes (warning).</summary>
    protected const int WritesRefused = 2019;

    private readonly TempFolder _dir = new();

    private protected FaultyFiles Files { get; } = new(DiskFiles.Instance);

    protected ListLogger Log { get; } = new(LogLevel.Information);

    protected string Folder => _dir.Path;

    protected EngineOptions Options => TestChunks.SmallEngine(_dir.Path) with { Files = Files, DirectReads = true, DirectWrites = true };

    public void Dispose()
    {
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }

    protected List<(LogLevel Level, int EventId, string Message, Exception? Exception)> Logged(int eventId) =>
        Log.Entries.Where(e => e.EventId == eventId).ToList();
}
