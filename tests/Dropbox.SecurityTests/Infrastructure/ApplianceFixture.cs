namespace Dropbox.SecurityTests.Infrastructure;

/// <summary>One appliance shared by the tests of a class (each test uses its own paths); started once, stopped after the class.</summary>
public sealed class ApplianceFixture : IAsyncLifetime
{
    internal Appliance Appliance { get; private set; } = null!;

    public async Task InitializeAsync() => Appliance = await Appliance.StartAsync();

    public async Task DisposeAsync() => await Appliance.DisposeAsync();
}
