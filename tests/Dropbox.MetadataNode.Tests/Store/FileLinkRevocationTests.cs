using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A file link dies with what it was made from: the owner's token (rotated), the account (removed), the file (deleted).
/// Real RocksDB store; the link resolved as a storage node would.
/// </summary>
public sealed class FileLinkRevocationTests
{
    private static async Task<(StoreHarness H, Domain.UserInfo User, string Token)> LinkedAsync(string user)
    {
        var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1 });
        var (info, _) = h.Store.AddUser(user);
        await h.PutFileAsync(info, "report.pdf", 0, StoreHarness.Chunk(1));
        var url = h.Store.CreateLink(info, "report.pdf", 0, TimeSpan.FromHours(1)).Url;
        var token = url.Split('/')[^2];
        var plan = await h.Store.ResolveLinkAsync(token, 0, 10, CancellationToken.None);
        Assert.Single(plan.Chunks);
        return (h, info, token);
    }

    [Fact]
    public async Task A_link_stops_resolving_once_its_owners_token_is_rotated_and_a_new_link_works()
    {
        var (h, user, token) = await LinkedAsync("bob");
        using var _ = h;

        h.Store.RotateToken("bob");

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ResolveLinkAsync(token, 0, 10, CancellationToken.None));
        Assert.Equal(ErrorKind.Unauthenticated, ex.Kind);
        var fresh = h.Store.CreateLink(user, "report.pdf", 0, TimeSpan.FromHours(1)).Url.Split('/')[^2];
        Assert.Single((await h.Store.ResolveLinkAsync(fresh, 0, 10, CancellationToken.None)).Chunks);
    }

    [Fact]
    public async Task A_link_stops_resolving_once_its_owners_account_is_removed()
    {
        var (h, _, token) = await LinkedAsync("bob");
        using var _ = h;

        h.Store.RemoveUser("bob");

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ResolveLinkAsync(token, 0, 10, CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, ex.Kind);
    }

    [Fact]
    public async Task A_link_stops_resolving_once_its_file_is_deleted_though_retention_keeps_the_version()
    {
        var (h, user, token) = await LinkedAsync("bob");
        using var _ = h;

        await h.Store.DeleteAsync(user, "report.pdf", 1, "dev");

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ResolveLinkAsync(token, 0, 10, CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, ex.Kind);
    }

    [Fact]
    public async Task A_link_revoked_by_deleting_its_file_stays_revoked_when_a_file_is_made_at_that_path_again()
    {
        var (h, user, token) = await LinkedAsync("bob");
        using var _ = h;

        await h.Store.DeleteAsync(user, "report.pdf", 1, "dev");
        await h.PutFileAsync(user, "report.pdf", 0, StoreHarness.Chunk(2));

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ResolveLinkAsync(token, 0, 10, CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, ex.Kind);
        var fresh = h.Store.CreateLink(user, "report.pdf", 0, TimeSpan.FromHours(1)).Url.Split('/')[^2];
        Assert.Single((await h.Store.ResolveLinkAsync(fresh, 0, 10, CancellationToken.None)).Chunks);
    }

    [Fact]
    public async Task A_link_to_an_older_version_keeps_working_after_the_file_is_edited()
    {
        var (h, user, token) = await LinkedAsync("bob");
        using var _ = h;

        await h.PutFileAsync(user, "report.pdf", 1, StoreHarness.Chunk(3));

        Assert.Single((await h.Store.ResolveLinkAsync(token, 0, 10, CancellationToken.None)).Chunks);
    }
}
