using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Admin;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>The admin API's online check and backup through real Kestrel and real gRPC clients.</summary>
public sealed class AdminBackupTests
{
    [Fact]
    public async Task Check_and_backup_refuse_a_non_admin_and_the_check_reports_a_broken_store_while_it_serves()
    {
        // Arrange: one committed file, then a broken refcount.
        await using var server = await MetadataServer.StartAsync();
        var ownerToken = server.Store.AddUser("owner").Token;
        var bob = await Admin(server, ownerToken).AddUserAsync(new AddUserRequest { Name = "bob" });
        var sync = server.SyncClient(bob.Token);
        var c1 = MetadataServer.Chunk(1);
        var plan = await sync.PlanUploadAsync(new PlanUploadRequest { Path = "a.bin", Size = 1000, Chunks = { c1 } });
        await server.UploadAsync(plan, [c1], bob.User.NamespaceId);
        await sync.CommitFileAsync(new CommitFileRequest { Path = "a.bin", Size = 1000, Chunks = { c1 } });
        var clean = await Admin(server, ownerToken).CheckAsync(new CheckRequest { VerifyChunks = true });
        Assert.Empty(clean.Problems);
        Assert.Equal(1UL, clean.ChunksVerified);

        var id = c1.Id.ToChunkId();
        var engine = server.Store.Engine;
        var record = ChunkRecord.Parser.ParseFrom(engine.Get(Keys.Chunk(id), engine.Chunks));
        record.Refcount = 0;
        using (var batch = new RecordBatch(engine))
        {
            batch.PutChunk(id, record);
            batch.Commit();
        }

        // Act + Assert: bob may call neither; the owner's check names the broken record.
        foreach (var call in new Func<Admin.AdminClient, Task>[] { c => c.CheckAsync(new CheckRequest()).ResponseAsync, c => c.BackupAsync(new BackupRequest()).ResponseAsync })
        {
            var denied = await Assert.ThrowsAsync<RpcException>(() => call(Admin(server, bob.Token)));
            Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        }

        var broken = await Admin(server, ownerToken).CheckAsync(new CheckRequest());
        Assert.Contains(broken.Problems, p => p.StartsWith($"chunk {id.ToShortString()}: refcount 0, retained versions referencing it 1", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(server.Store.Engine.Directory, "backups")));
    }

    [Fact]
    public async Task A_backup_writes_the_metadata_checkpoint_and_the_key_ring_and_says_incomplete_when_a_node_cannot_snapshot()
    {
        await using var server = await MetadataServer.StartAsync();
        var ownerToken = server.Store.AddUser("owner").Token;

        var backup = await Admin(server, ownerToken).BackupAsync(new BackupRequest());

        // The fake storage node has no snapshot call: the backup names it and is not complete.
        Assert.False(backup.Complete);
        var node = Assert.Single(backup.Nodes);
        Assert.Equal(server.Node.NodeId, node.NodeId);
        Assert.NotEqual(string.Empty, node.Error);
        Assert.Matches(@"^\d{8}T\d{6}Z$", backup.Name);
        Assert.Equal(Path.Combine(server.Store.Engine.Directory, "backups", backup.Name, "db"), backup.MetadataPath);
        Assert.NotEmpty(Directory.GetFiles(backup.KeysPath));

        // The checkpoint opens as a store of its own, holding the owner.
        using var copy = RocksEngine.Open(backup.MetadataPath);
        Assert.NotEmpty(copy.ScanAll(copy.Users));

        // A second backup in the same second gets its own folder.
        var second = await Admin(server, ownerToken).BackupAsync(new BackupRequest());
        Assert.NotEqual(backup.Name, second.Name);
    }

    private static Admin.AdminClient Admin(MetadataServer server, string token) =>
        new(server.Channel.Intercept(m =>
        {
            m.Add("authorization", "Bearer " + token);
            return m;
        }));
}
