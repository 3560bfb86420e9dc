using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Hosting;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Dropbox.StorageNode.Tests.Engine.Faults;

/// <summary><c>/readyz</c>'s check: a storage node whose engine stopped taking writes after a failed fsync is not ready.</summary>
public sealed class StorageReadinessTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_node_is_ready_until_a_failed_fsync_stops_its_engine_and_then_says_why()
    {
        // Arrange: an engine over injectable files, a store and the check.
        var faulty = new FaultyFiles(new MemoryFiles("/ready"));
        await using var engine = ChunkEngine.Open(new EngineOptions
        {
            Directory = "/ready",
            Files = faulty,
            IndexDirectory = _dir.Sub("index"),
            CheckpointInterval = TimeSpan.Zero,
            IndexSizeBytes = 1L << 12,
            IndexMemoryBytes = 1L << 15,
            IndexPageSizeBytes = 1L << 12,
        });
        await using var outbox = new EventOutbox(_dir.Sub("outbox"));
        var store = new ChunkStore(engine, outbox, new NodeId("ready-1"));
        var check = new StorageReadinessCheck(store, new Lifetime());
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);

        // Act: the next segment fsync fails.
        faulty.BeforeFlush = () => Task.FromException(new IOException("injected fsync EIO"));
        var bytes = new byte[4000];
        new Random(7).NextBytes(bytes);
        await Assert.ThrowsAsync<IOException>(() => engine.AppendAsync(ChunkId.Compute(bytes), ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None).AsTask());

        // Assert: not ready, and the description tells the operator what happened and what to do.
        var result = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("stopped taking writes", result.Description, StringComparison.Ordinal);
        Assert.Contains("restart", result.Description, StringComparison.Ordinal);
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}
