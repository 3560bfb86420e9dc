using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>The same log tests on real files and on in-memory ones.</summary>
public sealed class LogBackend : IDisposable
{
    private readonly TempFolder? _temp;

    private LogBackend(string kind)
    {
        if (kind == "disk")
        {
            _temp = new TempFolder();
            Root = _temp.Path;
            Inner = DiskFiles.Instance;
        }
        else
        {
            Root = "/mem";
            Inner = new MemoryFiles(Root);
        }

        Files = new CountingFiles(Inner);
    }

    public static TheoryData<string> Kinds => new() { "disk", "memory" };

    public string Root { get; }

    public IEngineFiles Inner { get; }

    internal CountingFiles Files { get; }

    public static LogBackend Create(string kind) => new(kind);

    public string PathOf(string name) => System.IO.Path.Combine(Root, name);

    public byte[] ReadAll(string path)
    {
        using var file = Inner.Open(path, FileMode.Open);
        var bytes = new byte[file.Length];
        Assert.Equal(bytes.Length, file.Read(bytes, 0));
        return bytes;
    }

    public void WriteAll(string path, ReadOnlySpan<byte> bytes)
    {
        using var file = Inner.Open(path, FileMode.Create);
        file.Write(bytes, 0);
        file.Flush();
    }

    public void Dispose() => _temp?.Dispose();
}
