namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>The metadata contract against the client tests' in-memory <see cref="FakeServer"/>.</summary>
public sealed class FakeServerContractTests : MetadataContractTests
{
    internal override Task<ContractTarget> StartAsync(CancellationToken ct)
    {
        var server = new FakeServer();
        return Task.FromResult(new ContractTarget(server, server));
    }
}
