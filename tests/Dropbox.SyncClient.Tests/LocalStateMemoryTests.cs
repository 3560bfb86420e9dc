using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Measures retained heap with <see cref="GC.GetTotalMemory(bool)"/>, which counts every thread's allocations: so it
/// runs alone, never beside other tests of this assembly.
/// </summary>
[Collection(MemoryCollection.Name)]
public sealed class LocalStateMemoryTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_merge_base_held_in_memory_stays_small_per_tracked_file()
    {
        using var state = LocalState.Open(_dir.Path);
        const int count = 20_000;
        var hash = new byte[32];
        for (var i = 0; i < count; i++)
        {
            state.PutFile(new FileRecord($"projects/p{i % 100}/src/file{i:00000}.cs", FileKind.File, i, i, (ulong)i + 1, hash), null);
        }

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var files = state.LoadFiles();
        var after = GC.GetTotalMemory(forceFullCollection: true);

        Assert.Equal(count, files.Count);
        var perFile = (after - before) / (double)count;
        Assert.True(perFile < 400, $"{perFile:0} bytes per tracked file");
        GC.KeepAlive(files);
    }
}

/// <summary>Tests that measure process-wide memory; xunit runs this collection with nothing else in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory measurements";
}
