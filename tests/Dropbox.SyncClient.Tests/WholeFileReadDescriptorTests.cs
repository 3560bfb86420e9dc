using Dropbox.SyncClient.Local;
using Dropbox.Testing;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// <see cref="WholeFileRead"/> closes what it opens on every way out (the file as long as the buffer, longer, shorter):
/// counted as the process's open descriptors, so this runs with nothing else in parallel.
/// </summary>
[Collection(DescriptorCountCollection.Name)]
public sealed class WholeFileReadDescriptorTests : IDisposable
{
    private const int Reads = 300;

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_read_closes_its_descriptor_whatever_it_answers()
    {
        var path = _dir.Sub("f.bin");
        File.WriteAllBytes(path, TestClient.RandomBytes(3000, 1));
        var exact = new byte[3000];
        var shorter = new byte[2999]; // the file is longer: the byte past the buffer is read, then false
        var longer = new byte[3001]; // the file is shorter: the read comes back short, then false
        Assert.True(WholeFileRead.TryReadExactly(path, exact)); // the first call loads libc's entry points
        var before = OpenDescriptors();

        for (var i = 0; i < Reads; i++)
        {
            Assert.True(WholeFileRead.TryReadExactly(path, exact));
            Assert.False(WholeFileRead.TryReadExactly(path, shorter));
            Assert.False(WholeFileRead.TryReadExactly(path, longer));
        }

        var after = OpenDescriptors();
        Assert.True(after - before < Reads / 2, $"{after - before} more descriptors open after {3 * Reads} reads ({before} -> {after})");
    }

    private static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;
}

/// <summary>Tests that count the process's open descriptors; xunit runs this collection with nothing else in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DescriptorCountCollection
{
    public const string Name = "Descriptor counts";
}
