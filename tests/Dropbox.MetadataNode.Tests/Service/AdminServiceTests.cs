using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Protos.Admin;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>The admin API through real Kestrel and real gRPC clients: who may call it, and what each call does.</summary>
public sealed class AdminServiceTests
{
    [Fact]
    public async Task The_first_user_is_an_admin_and_a_non_admin_or_an_unknown_token_is_refused()
    {
        await using var server = await MetadataServer.StartAsync();
        var (owner, ownerToken) = server.Store.AddUser("owner");
        Assert.True(owner.IsAdmin);

        var added = await Admin(server, ownerToken).AddUserAsync(new AddUserRequest { Name = "bob" });
        Assert.False(added.User.Admin);

        var denied = await Assert.ThrowsAsync<RpcException>(() => Admin(server, added.Token).ListUsersAsync(new ListUsersRequest()).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Contains("user 'bob' is not an admin", denied.Status.Detail, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => Admin(server, "not-a-token").AddUserAsync(new AddUserRequest { Name = "eve" }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, unknown.StatusCode);
        var users = await Admin(server, ownerToken).ListUsersAsync(new ListUsersRequest());
        Assert.Equal(["bob", "owner"], users.Users.Select(u => u.Name).Order(StringComparer.Ordinal));
        Assert.Equal([false, true], users.Users.OrderBy(u => u.Name, StringComparer.Ordinal).Select(u => u.Admin));
    }

    [Fact]
    public async Task Removing_a_user_revokes_a_token_already_in_use_at_once()
    {
        await using var server = await MetadataServer.StartAsync();
        var ownerToken = StartWithOwner(server);
        var bob = await Admin(server, ownerToken).AddUserAsync(new AddUserRequest { Name = "bob" });
        var bobSync = server.SyncClient(bob.Token);
        await bobSync.GetAccountAsync(new GetAccountRequest()); // the token is now cached by the node

        await Admin(server, ownerToken).RemoveUserAsync(new RemoveUserRequest { Name = "bob" });

        var refused = await Assert.ThrowsAsync<RpcException>(() => bobSync.GetAccountAsync(new GetAccountRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.DoesNotContain("bob", (await Admin(server, ownerToken).ListUsersAsync(new ListUsersRequest())).Users.Select(u => u.Name));
        var again = await Assert.ThrowsAsync<RpcException>(() => Admin(server, ownerToken).RemoveUserAsync(new RemoveUserRequest { Name = "bob" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task Rotating_a_token_invalidates_the_old_one_and_the_new_one_works()
    {
        await using var server = await MetadataServer.StartAsync();
        var ownerToken = StartWithOwner(server);
        var bob = await Admin(server, ownerToken).AddUserAsync(new AddUserRequest { Name = "bob" });
        await server.SyncClient(bob.Token).GetAccountAsync(new GetAccountRequest());

        var rotated = await Admin(server, ownerToken).RotateTokenAsync(new RotateTokenRequest { Name = "bob" });

        Assert.NotEqual(bob.Token, rotated.Token);
        var old = await Assert.ThrowsAsync<RpcException>(() => server.SyncClient(bob.Token).GetAccountAsync(new GetAccountRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, old.StatusCode);
        var account = await server.SyncClient(rotated.Token).GetAccountAsync(new GetAccountRequest());
        Assert.Equal(bob.User.NamespaceId, account.NamespaceId);
    }

    [Fact]
    public async Task A_long_poll_opened_before_its_token_was_rotated_returns_no_change_made_after()
    {
        await using var server = await MetadataServer.StartAsync();
        var ownerToken = StartWithOwner(server);
        var bob = await Admin(server, ownerToken).AddUserAsync(new AddUserRequest { Name = "bob" });
        var leaked = server.SyncClient(bob.Token);
        var cursor = (await leaked.ListChangesAsync(new ListChangesRequest())).Cursor;

        // A leaked token holds a long poll; the owner rotates the token; a device then makes a change, which wakes the
        // poll: what it answers must not name that change.
        var poll = leaked.ListChangesAsync(new ListChangesRequest { Cursor = cursor, WaitSeconds = 30 }).ResponseAsync;
        for (var waited = 0; server.Store.LongPollsHeld(bob.User.NamespaceId) == 0; waited++)
        {
            Assert.True(waited < 500 && !poll.IsCompleted, "the long poll never reached the server's wait");
            await Task.Delay(10);
        }

        var rotated = await Admin(server, ownerToken).RotateTokenAsync(new RotateTokenRequest { Name = "bob" });
        await server.SyncClient(rotated.Token).CreateFolderAsync(new CreateFolderRequest { Path = "after-the-rotation" });

        var refused = await Assert.ThrowsAsync<RpcException>(() => poll);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.DoesNotContain("after-the-rotation", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upload_over_quota_is_refused_at_plan_and_at_commit_with_a_message_naming_the_quota()
    {
        await using var server = await MetadataServer.StartAsync();
        var ownerToken = StartWithOwner(server);
        var bob = await Admin(server, ownerToken).AddUserAsync(new AddUserRequest { Name = "bob" });
        var set = await Admin(server, ownerToken).SetQuotaAsync(new SetQuotaRequest { Name = "bob", QuotaBytes = 1500 });
        Assert.Equal(1500UL, set.User.QuotaBytes);
        var sync = server.SyncClient(bob.Token);
        var c1 = MetadataServer.Chunk(1);
        var c2 = MetadataServer.Chunk(2);

        // Within the quota: planned, stored and committed.
        var small = await sync.PlanUploadAsync(new PlanUploadRequest { Path = "small.bin", Size = 1000, Chunks = { c1 } });
        await server.UploadAsync(small, [c1], bob.User.NamespaceId);
        await sync.CommitFileAsync(new CommitFileRequest { Path = "small.bin", Size = 1000, Chunks = { c1 } });

        // Over it: refused at plan time, and a commit that skips the plan is refused too.
        var plan = await Assert.ThrowsAsync<RpcException>(() => sync.PlanUploadAsync(new PlanUploadRequest { Path = "big.bin", Size = 1000, Chunks = { c2 } }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, plan.StatusCode);
        Assert.Contains("quota of 1500 bytes", plan.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("to 2000 bytes", plan.Status.Detail, StringComparison.Ordinal);
        var commit = await Assert.ThrowsAsync<RpcException>(() => sync.CommitFileAsync(new CommitFileRequest { Path = "big.bin", Size = 1000, Chunks = { c2 } }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, commit.StatusCode);
        Assert.Contains("quota of 1500 bytes", commit.Status.Detail, StringComparison.Ordinal);

        // Replacing a file by one of the same size stays within the quota; lifting the quota lets the upload through.
        await sync.PlanUploadAsync(new PlanUploadRequest { Path = "small.bin", Size = 1000, BaseVersion = 1, Chunks = { c2 } });
        await Admin(server, ownerToken).SetQuotaAsync(new SetQuotaRequest { Name = "bob", QuotaBytes = 0 });
        Assert.Single((await sync.PlanUploadAsync(new PlanUploadRequest { Path = "big.bin", Size = 1000, Chunks = { c2 } })).Missing);
    }

    [Fact]
    public async Task A_batch_plan_with_one_file_over_quota_is_refused_whole_naming_the_quota_and_signs_no_put()
    {
        await using var server = await MetadataServer.StartAsync();
        var ownerToken = StartWithOwner(server);
        var bob = await Admin(server, ownerToken).AddUserAsync(new AddUserRequest { Name = "bob" });
        await Admin(server, ownerToken).SetQuotaAsync(new SetQuotaRequest { Name = "bob", QuotaBytes = 1500 });
        var sync = server.SyncClient(bob.Token);
        var c1 = MetadataServer.Chunk(1);
        var c2 = MetadataServer.Chunk(2);
        var c3 = MetadataServer.Chunk(3, 100);
        var small = await sync.PlanUploadAsync(new PlanUploadRequest { Path = "small.bin", Size = 1000, Chunks = { c1 } });
        await server.UploadAsync(small, [c1], bob.User.NamespaceId);
        await sync.CommitFileAsync(new CommitFileRequest { Path = "small.bin", Size = 1000, Chunks = { c1 } });

        // One file within the quota, one over it: the whole call is refused, as PlanUpload refuses the latter alone.
        var plan = await Assert.ThrowsAsync<RpcException>(() => sync.PlanUploadsAsync(new PlanUploadsRequest
        {
            Files =
            {
                new PlanUploadRequest { Path = "tiny.bin", Size = 100, Chunks = { c3 } },
                new PlanUploadRequest { Path = "big.bin", Size = 1000, Chunks = { c2 } },
            },
        }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, plan.StatusCode);
        Assert.Contains("quota of 1500 bytes", plan.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("'big.bin'", plan.Status.Detail, StringComparison.Ordinal);

        // The file within the quota alone is planned; replacing a file by one of the same size stays within it.
        var within = await sync.PlanUploadsAsync(new PlanUploadsRequest
        {
            Files =
            {
                new PlanUploadRequest { Path = "tiny.bin", Size = 100, Chunks = { c3 } },
                new PlanUploadRequest { Path = "small.bin", Size = 1000, BaseVersion = 1, Chunks = { c2 } },
            },
        });
        Assert.Equal(2, within.Results.Count);
        Assert.Single(within.Results[0].Missing);
        Assert.Single(within.Results[1].Missing);
    }

    private static string StartWithOwner(MetadataServer server) => server.Store.AddUser("owner").Token;

    private static Admin.AdminClient Admin(MetadataServer server, string token) =>
        new(server.Channel.Intercept(m =>
        {
            m.Add("authorization", "Bearer " + token);
            return m;
        }));
}
