using BenchmarkDotNet.Attributes;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;

namespace Dropbox.Benchmarks.Storage;

/// <summary>
/// Batched index lookups (the Has path) on a real engine holding 100,000 chunks; half the ids looked up are held.
/// Divide the batch size by the mean time for ids/s.
/// </summary>
[MemoryDiagnoser]
public class HasLookupBenchmarks
{
    private const int Held = 100_000;
    private string _dir = string.Empty;
    private ChunkEngine _engine = null!;
    private ChunkId[] _ids = [];
    private bool[] _present = [];

    /// <summary>Ids per batch.</summary>
    [Params(1_000, 10_000)]
    public int Batch { get; set; }

    /// <summary>Fills an engine with tiny records.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "dbx-bench-haslookup-" + Guid.NewGuid().ToString("N")[..8]);
        _engine = ChunkEngine.Open(new EngineOptions { Directory = _dir, CheckpointInterval = TimeSpan.Zero });
        var rng = new Random(42);
        var bytes = new byte[ChunkId.Size];
        var payload = new byte[16];
        var all = new List<ChunkId>();
        var pending = new List<Task>();
        for (var i = 0; i < Held * 2; i++)
        {
            rng.NextBytes(bytes);
            var id = new ChunkId(bytes);
            all.Add(id);
            if (i % 2 == 0)
            {
                pending.Add(_engine.AppendAsync(id, ChunkEncoding.Raw, payload.Length, payload, CancellationToken.None).AsTask());
            }
        }

        Task.WhenAll(pending).GetAwaiter().GetResult();
        _ids = all.ToArray();
        _present = new bool[Batch];
    }

    /// <summary>One batch of lookups.</summary>
    [Benchmark]
    public int ContainsBatch()
    {
        var start = Random.Shared.Next(0, _ids.Length - Batch);
        _engine.Contains(_ids.AsSpan(start, Batch), _present);
        return _present.Length;
    }

    /// <summary>Closes and removes the engine.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }
}
