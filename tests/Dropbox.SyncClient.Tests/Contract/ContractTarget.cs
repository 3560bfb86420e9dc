using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>What the contract suite talks to: the metadata API as the client sees it, and the chunk transfer to the nodes it names.</summary>
internal sealed class ContractTarget(IMetadataRemote remote, IChunkTransfer transfer, Func<ValueTask>? dispose = null) : IAsyncDisposable
{
    public IMetadataRemote Remote { get; } = remote;

    public IChunkTransfer Transfer { get; } = transfer;

    public ValueTask DisposeAsync() => dispose?.Invoke() ?? ValueTask.CompletedTask;
}
