using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A token revoked (user removed or token rotated) whose batch was written but whose WAL sync then failed: the store no
/// longer holds its hash, so the in-memory token cache must not go on authenticating it either. Real RocksDB store.
/// </summary>
public sealed class TokenRevocationWalFailureTests
{
    [Theory]
    [InlineData("rotate")]
    [InlineData("remove")]
    public void A_revoked_token_stops_authenticating_even_when_forcing_the_wal_fails_after_the_batch_was_written(string revoke)
    {
        using var h = new StoreHarness();
        var (_, token) = h.Store.AddUser("bob");
        Assert.Equal("bob", h.Store.Authenticate(token).Name); // now cached

        h.Store.Transactions.AfterWriteNowCommit = () =>
        {
            h.Store.Transactions.AfterWriteNowCommit = null;
            throw new IOException("fsync failed (test)");
        };
        Assert.Throws<IOException>(() =>
        {
            if (revoke == "rotate")
            {
                h.Store.RotateToken("bob");
            }
            else
            {
                h.Store.RemoveUser("bob");
            }
        });

        Assert.Equal(ErrorKind.Unauthenticated, Assert.Throws<DropboxException>(() => h.Store.Authenticate(token)).Kind);
    }
}
