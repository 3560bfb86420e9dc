using Dropbox.StorageNode;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// The options of a small in-process storage node for a test: plain gRPC on an ephemeral 127.0.0.1 port, a tiny
/// FASTER index, and no periodic checkpoint or compaction (a test that wants them, or TLS, or a metadata node, adds
/// them with <c>with { ... }</c>). One copy, so the tests' nodes cannot drift apart.
/// </summary>
internal static class SmallStorageNode
{
    public static StorageNodeOptions Options(string dataDirectory, string keysDirectory, string nodeId) => new()
    {
        DataDirectory = dataDirectory,
        KeysDirectory = keysDirectory,
        GrpcUrl = "http://127.0.0.1:0",
        NodeId = nodeId,
        IndexSizeBytes = 1L << 16,
        IndexMemoryBytes = 1L << 22,
        CheckpointInterval = TimeSpan.Zero,
        CompactionInterval = TimeSpan.Zero,
    };
}
