using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class MassDeleteGuardTests
{
    [Theory]
    [InlineData(9, 10, false)]    // below the minimum count
    [InlineData(10, 100, false)]  // a small share
    [InlineData(51, 100, true)]   // more than half
    [InlineData(50, 100, false)]  // exactly half is allowed
    [InlineData(12, 12, true)]    // everything
    [InlineData(1000, 100000, false)]
    public void The_guard_trips_only_on_a_large_share_above_the_minimum(int deletes, long synced, bool trips)
    {
        Assert.Equal(trips, MassDeleteGuard.Trips(deletes, synced, 0.5, 10));
    }

    [Fact]
    public void Allowing_mass_delete_skips_the_check()
    {
        var plan = Enumerable.Range(0, 20).Select(i => new SyncAction(SyncActionKind.DeleteRemote, $"f{i}")).ToList();

        MassDeleteGuard.Check(plan, 20, new SyncOptions { AllowMassDelete = true });
        Assert.Throws<Dropbox.Shared.Errors.DropboxException>(() => MassDeleteGuard.Check(plan, 20, new SyncOptions()));
    }
}
