using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>Files whose renames onto the outbox's delivered mark fail while <see cref="FailMark"/> is set (EIO, a full disk).</summary>
internal sealed class MarkFailingFiles(IEngineFiles inner) : IEngineFiles
{
    public volatile bool FailMark;

    public void CreateDirectory(string path) => inner.CreateDirectory(path);

    public bool FileExists(string path) => inner.FileExists(path);

    public IReadOnlyList<string> ListFiles(string directory, string suffix) => inner.ListFiles(directory, suffix);

    public IEngineFile Open(string path, FileMode mode) => inner.Open(path, mode);

    public void Move(string source, string destination)
    {
        if (FailMark && destination.EndsWith("delivered", StringComparison.Ordinal))
        {
            throw new IOException("injected EIO on the delivered mark's rename");
        }

        inner.Move(source, destination);
    }

    public void Delete(string path) => inner.Delete(path);

    public void SyncDirectory(string directory) => inner.SyncDirectory(directory);
}
