using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>
/// Valid seed requests for every rpc of both nodes, built against a live appliance (alice's files, real tokens and
/// cursors), and the credentials each is tried with. Every rpc of every service must have seeds: a new rpc without
/// them fails the fuzz tests instead of escaping them.
/// </summary>
internal static class FuzzTargets
{
    public static async Task<FuzzPlan> MetadataAsync(Appliance app)
    {
        var alice = app.Sync(app.Alice);
        var seed1 = await app.UploadAsync(app.Alice, "fuzz/seed-1.bin", Appliance.Content(9001, 20_000), pieceSize: 8_000);
        var seed2 = await app.UploadAsync(app.Alice, "fuzz/seed-2.bin", Appliance.Content(9002, 9_000), pieceSize: 8_000);
        await alice.CreateFolderAsync(new CreateFolderRequest { Path = "fuzz/dir", Device = "fuzz" });
        var account = await alice.GetAccountAsync(new GetAccountRequest());
        var (fresh, _) = Appliance.Cut(Appliance.Content(9003, 10_000), 5_000);
        var download = await alice.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = seed1.Entry.Path });
        var link = await alice.CreateLinkAsync(new CreateLinkRequest { Path = seed1.Entry.Path, LifetimeSeconds = 3600 });
        var linkToken = link.Url[(link.Url.IndexOf("/l/", StringComparison.Ordinal) + 3)..].Split('/')[0];

        var system = app.MetadataSystemToken();
        var putToken = seed1.Plan.Missing[0].Token;
        var getToken = download.Chunks[0].Tokens[0];
        var otherRing = ChunkTokenService.ForKeyDirectory(app.Scratch("other-ring-" + Guid.NewGuid().ToString("N")[..8]));
        var forged = otherRing.Issue(TokenOperation.System, NamespaceId.SystemValue, Dropbox.MetadataNode.Services.CallAuthenticator.MetadataNodeId, [], TimeSpan.FromMinutes(5));
        var expired = app.KeyRing.Issue(TokenOperation.System, NamespaceId.SystemValue, Dropbox.MetadataNode.Services.CallAuthenticator.MetadataNodeId, [], TimeSpan.FromSeconds(-5));
        var nodeScoped = app.NodeCredential();

        var user = new List<Credential>
        {
            new("alice", "Bearer " + app.Alice.Token, 55),
            new("bob", "Bearer " + app.Bob.Token, 10),
            new("none", null, 8),
            new("garbage", "Bearer not-a-token", 7),
            new("huge", "Bearer " + new string('x', 8_000), 3),
            new("no-scheme", app.Alice.Token, 4),
            new("system-token", "Bearer " + system, 5),
            new("put-token", "Bearer " + putToken, 4),
            new("forged-system", "Bearer " + forged, 4),
        };
        var cluster = new List<Credential>
        {
            new("system", "Bearer " + system, 55),
            new("alice", "Bearer " + app.Alice.Token, 10),
            new("none", null, 8),
            new("garbage", "Bearer " + putToken[..^4] + "AAAA", 7),
            new("forged-system", "Bearer " + forged, 6),
            new("expired-system", "Bearer " + expired, 6),
            new("storage-node-scoped", "Bearer " + nodeScoped, 4),
            new("get-token", "Bearer " + getToken, 4),
        };

        var seed1Commit = new CommitFileRequest { Path = seed1.Entry.Path, Size = seed1.Entry.Size, MtimeUnixMs = seed1.Entry.MtimeUnixMs, Chunks = { seed1.Chunks }, BaseVersion = seed1.Entry.Version, Device = "fuzz" };
        var newCommit = new CommitFileRequest { Path = "fuzz/new-2.bin", Size = seed2.Entry.Size, MtimeUnixMs = 1_700_000_000_000, Chunks = { seed2.Chunks }, Device = "fuzz" };
        var seeds = new Dictionary<string, IMessage[]>
        {
            ["Sync/PlanUpload"] =
            [
                new PlanUploadRequest { Path = "fuzz/new-1.bin", Size = 10_000, MtimeUnixMs = 1_700_000_000_000, Chunks = { fresh } },
                new PlanUploadRequest { Path = seed1.Entry.Path, Size = seed1.Entry.Size, MtimeUnixMs = 1, Chunks = { seed1.Chunks }, BaseVersion = seed1.Entry.Version },
            ],
            ["Sync/PlanChunks"] =
            [
                new PlanChunksRequest { Path = "fuzz/new-2.bin", Size = 1_000_000, Chunks = { fresh } },
                new PlanChunksRequest { Path = seed1.Entry.Path, Size = seed1.Entry.Size, Chunks = { seed1.Chunks }, BaseVersion = seed1.Entry.Version },
            ],
            ["Sync/CommitFile"] = [seed1Commit, newCommit],
            ["Sync/CommitFiles"] = [new CommitFilesRequest { Files = { seed1Commit, newCommit } }],
            ["Sync/GetDownloadPlan"] =
            [
                new GetDownloadPlanRequest { Path = seed1.Entry.Path },
                new GetDownloadPlanRequest { Path = seed1.Entry.Path, Version = seed1.Entry.Version },
            ],
            ["Sync/GetDownloadPlans"] =
            [
                new GetDownloadPlansRequest { Files = { new GetDownloadPlanRequest { Path = seed1.Entry.Path } } },
                new GetDownloadPlansRequest
                {
                    Files =
                    {
                        new GetDownloadPlanRequest { Path = seed1.Entry.Path, Version = seed1.Entry.Version, Limit = 2 },
                        new GetDownloadPlanRequest { Path = "fuzz/absent.bin" },
                    },
                },
            ],
            ["Sync/ListChanges"] =
            [
                new ListChangesRequest { Cursor = account.Cursor, Limit = 10 },
                new ListChangesRequest { Limit = 0 },
                new ListChangesRequest { Cursor = account.Cursor, Limit = 5, WaitSeconds = 1 },
            ],
            ["Sync/ListFiles"] =
            [
                new ListFilesRequest { Prefix = "fuzz", Limit = 10 },
                new ListFilesRequest { IncludeDeleted = true, Limit = 2, StartAfter = seed1.Entry.Path },
            ],
            ["Sync/ListVersions"] = [new ListVersionsRequest { Path = seed1.Entry.Path }],
            ["Sync/Restore"] = [new RestoreRequest { Path = seed1.Entry.Path, Version = seed1.Entry.Version, Device = "fuzz" }],
            ["Sync/DeleteFile"] =
            [
                new DeleteFileRequest { Path = "fuzz/new-2.bin", Device = "fuzz" },
                new DeleteFileRequest { Path = "fuzz/dir", OnlyIfEmpty = true, Device = "fuzz" },
            ],
            ["Sync/MoveFile"] = [new MoveFileRequest { FromPath = "fuzz/new-2.bin", ToPath = "fuzz/moved.bin", Device = "fuzz" }],
            ["Sync/CreateFolder"] = [new CreateFolderRequest { Path = "fuzz/dir2", Device = "fuzz" }],
            ["Sync/GetAccount"] = [new GetAccountRequest()],
            ["Sync/CreateLink"] =
            [
                new CreateLinkRequest { Path = seed1.Entry.Path },
                new CreateLinkRequest { Path = seed1.Entry.Path, Version = seed1.Entry.Version, LifetimeSeconds = 60 },
            ],
            ["Cluster/ResolveLink"] =
            [
                new ResolveLinkRequest { LinkToken = linkToken, Limit = 10 },
                new ResolveLinkRequest { LinkToken = linkToken, Offset = 1, Limit = 1 },
            ],
            ["Sync/PlanUploads"] =
            [
                new PlanUploadsRequest
                {
                    Files =
                    {
                        new PlanUploadRequest { Path = "fuzz/new-1.bin", Size = 10_000, MtimeUnixMs = 1_700_000_000_000, Chunks = { fresh } },
                        new PlanUploadRequest { Path = seed1.Entry.Path, Size = seed1.Entry.Size, MtimeUnixMs = 1, Chunks = { seed1.Chunks }, BaseVersion = seed1.Entry.Version },
                    },
                },
            ],
            ["Cluster/RegisterNode"] =
            [
                // A port nobody listens on: a registered fuzz node must never make the metadata node reach beyond loopback.
                new RegisterNodeRequest { NodeId = "fuzz-node", GrpcUrl = "http://127.0.0.1:9", HttpUrl = "http://127.0.0.1:9", CapacityBytes = 1 << 30, UsedBytes = 1 },
            ],
            ["Cluster/Heartbeat"] =
            [
                new HeartbeatRequest { NodeId = Appliance.StorageNodeId, UsedBytes = 100, ChunkCount = 3 },
                new HeartbeatRequest { NodeId = "fuzz-node" },
            ],
            ["Cluster/ReportChunksStored"] =
            [
                new ReportChunksStoredRequest
                {
                    NodeId = Appliance.StorageNodeId,
                    Chunks = { new StoredChunk { ChunkId = seed2.Chunks[0].Id, Size = seed2.Chunks[0].Size, StoredSize = seed2.Chunks[0].StoredSize, NamespaceId = app.Alice.NamespaceId } },
                },
            ],
            ["Cluster/ReportChunksCorrupt"] =
            [
                // Chunks the node does not hold, and a node that holds nothing: a valid report that changes nothing, so
                // the rest of the run still finds alice's chunks listed.
                new ReportChunksCorruptRequest { NodeId = Appliance.StorageNodeId, ChunkIds = { fresh.Select(c => c.Id) } },
                new ReportChunksCorruptRequest { NodeId = "fuzz-node", ChunkIds = { seed2.Chunks[0].Id } },
            ],
        };

        // A report about a node's own copies needs a report token issued by that node; the others are refused.
        var report = new List<Credential>(cluster)
        {
            new("node-report", "Bearer " + app.KeyRing.IssueNodeReport(Appliance.StorageNodeId, Dropbox.MetadataNode.Services.CallAuthenticator.MetadataNodeId, TimeSpan.FromMinutes(10)), 50),
            new("other-node-report", "Bearer " + app.KeyRing.IssueNodeReport("fuzz-node", Dropbox.MetadataNode.Services.CallAuthenticator.MetadataNodeId, TimeSpan.FromMinutes(10)), 10),
        };
        var targets = new List<FuzzTarget>();
        foreach (var service in new[] { Sync.Descriptor, Dropbox.Shared.Protos.Metadata.Cluster.Descriptor })
        {
            foreach (var method in service.Methods)
            {
                var credentials = service == Sync.Descriptor ? user : method.Name == "ReportChunksCorrupt" ? report : cluster;
                var target = Target(service, method, seeds, credentials);
                targets.Add(method.Name == "RegisterNode" ? target with { Sanitize = KeepNodeUrlsOnLoopback } : target);
            }
        }

        var strings = new List<string>
        {
            app.Alice.Token, app.Bob.Token, system, putToken, getToken, forged, expired, nodeScoped, account.Cursor, linkToken,
            seed1.Entry.Path, seed2.Entry.Path, "fuzz/dir", "fuzz", "fuzz/new-2.bin", app.Alice.NamespaceId, app.Bob.NamespaceId,
            Appliance.StorageNodeId, "fuzz-node", "metadata", app.StorageGrpcUrl, app.StorageHttpUrl,
        };
        var bytes = seed1.Chunks.Concat(seed2.Chunks).Concat(fresh).Select(c => c.Id).ToList();
        return new FuzzPlan("metadata", targets, strings, bytes);
    }

    public static async Task<FuzzPlan> StorageAsync(Appliance app)
    {
        var alice = app.Sync(app.Alice);
        var stored = await app.UploadAsync(app.Alice, "fuzz/stored.bin", Appliance.Content(9101, 12_000), pieceSize: 4_000);
        var download = await alice.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = stored.Entry.Path });
        var content = Appliance.Content(9102, 16_384);
        var (fresh, pieces) = Appliance.Cut(content, 4_096);
        var plan = await alice.PlanUploadAsync(new PlanUploadRequest { Path = "fuzz/to-put.bin", Size = (ulong)content.Length, Chunks = { fresh } });
        var putTokens = fresh.Select(c => plan.Missing.First(m => m.ChunkId == c.Id).Token).ToList();
        var node = app.NodeCredential();
        var otherNode = app.NodeCredential("storage-2");
        var otherRing = ChunkTokenService.ForKeyDirectory(app.Scratch("other-ring-" + Guid.NewGuid().ToString("N")[..8]));
        var forged = otherRing.Issue(TokenOperation.System, NamespaceId.SystemValue, Appliance.StorageNodeId, [], TimeSpan.FromMinutes(5));
        var expired = app.KeyRing.Issue(TokenOperation.System, NamespaceId.SystemValue, Appliance.StorageNodeId, [], TimeSpan.FromSeconds(-5));
        var getToken = download.Chunks[0].Tokens[0];
        var throwaway = Enumerable.Range(0, 3).Select(i => ChunkId.Compute(Appliance.Content(9200 + i, 64)).ToByteString()).ToList();
        var pushTokens = stored.Chunks.Select(c => app.KeyRing.Issue(TokenOperation.Put, app.Alice.NamespaceId, Appliance.StorageNodeId, [c.Id.ToChunkId()], TimeSpan.FromHours(2))).ToList();

        static byte[] Header(Proto.ChunkRef chunk, string token) =>
            new PutChunkRequest { Header = new ChunkHeader { ChunkId = chunk.Id, Encoding = Proto.ChunkEncoding.Raw, PlainSize = chunk.Size, StoredSize = chunk.StoredSize, Token = token } }.ToByteArray();
        static byte[] Data(ReadOnlySpan<byte> bytes) => new PutChunkRequest { Data = ByteString.CopyFrom(bytes) }.ToByteArray();

        var putSeeds = new List<FuzzSeed>
        {
            new("one chunk, one frame", [Header(fresh[0], putTokens[0]), Data(pieces[0])]),
            new("one chunk, two frames", [Header(fresh[1], putTokens[1]), Data(pieces[1].AsSpan(0, 1000)), Data(pieces[1].AsSpan(1000))]),
            new("two chunks", [Header(fresh[2], putTokens[2]), Data(pieces[2]), Header(fresh[3], putTokens[3]), Data(pieces[3])]),
        };
        var seeds = new Dictionary<string, IMessage[]>
        {
            ["ChunkStorage/GetChunks"] =
            [
                new GetChunksRequest { ChunkIds = { download.Chunks.Select(c => c.Chunk.Id) }, Token = getToken },
                new GetChunksRequest { ChunkIds = { download.Chunks[0].Chunk.Id }, Token = getToken, AcceptLz4 = true },
            ],
            ["ChunkStorage/HasChunks"] = [new HasChunksRequest { ChunkIds = { stored.Chunks.Select(c => c.Id) }, Token = node }],
            ["ChunkStorage/DeleteChunks"] = [new DeleteChunksRequest { ChunkIds = { throwaway }, Token = node }],
            ["ChunkStorage/GetStats"] = [new GetStatsRequest { Token = node }, new GetStatsRequest()],
            ["ChunkStorage/Scrub"] = [new ScrubRequest { Token = node }],
            ["Replication/PushChunks"] =
            [
                // To itself (the only node): a real copy over PutChunks with put tokens for this node.
                new PushChunksRequest { Token = node, TargetNodeId = Appliance.StorageNodeId, TargetGrpcUrl = app.StorageGrpcUrl, ChunkIds = { stored.Chunks.Select(c => c.Id) }, PutTokens = { pushTokens } },
                // A chunk it does not hold (unreadable), and a target nobody listens on (loopback, closed port).
                new PushChunksRequest { Token = node, TargetNodeId = Appliance.StorageNodeId, TargetGrpcUrl = app.StorageGrpcUrl, ChunkIds = { throwaway[0], stored.Chunks[0].Id }, PutTokens = { pushTokens[0], pushTokens[0] } },
                new PushChunksRequest { Token = node, TargetNodeId = "storage-2", TargetGrpcUrl = ClosedPort, ChunkIds = { stored.Chunks[0].Id }, PutTokens = { pushTokens[0] } },
            ],
            ["StoreSnapshots/SnapshotStore"] =
            [
                new SnapshotStoreRequest { Token = node, BackupName = "20261201T224501Z" },
                new SnapshotStoreRequest { Token = node, BackupName = "20261201T224501Z-2" },
            ],
            ["StoreSnapshots/DeleteSnapshot"] =
            [
                // The snapshot the seed above takes, and a name no snapshot has.
                new DeleteSnapshotRequest { Token = node, BackupName = "20261201T224501Z" },
                new DeleteSnapshotRequest { Token = node, BackupName = "20261201T224502Z" },
            ],
        };

        var credentials = new List<Credential>
        {
            new("none", null, 40),
            new("node", "Bearer " + node, 30),
            new("alice", "Bearer " + app.Alice.Token, 10),
            new("garbage", "Bearer " + new string('A', 100), 10),
            new("forged-node", "Bearer " + forged, 10),
        };
        var service = ChunkStorage.Descriptor;
        var targets = service.Methods
            .Select(m => m.Name == "PutChunks"
                ? new FuzzTarget(service, m, putSeeds, credentials)
                : Target(service, m, seeds, credentials))
            .ToList();
        foreach (var other in new[] { Replication.Descriptor, StoreSnapshots.Descriptor })
        {
            foreach (var method in other.Methods)
            {
                var target = Target(other, method, seeds, credentials);
                targets.Add(method.Name == "PushChunks" ? target with { Sanitize = KeepPushTargetOnLoopback } : target);
            }
        }

        var strings = new List<string>
        {
            node, otherNode, forged, expired, getToken, app.Alice.Token, app.Bob.Token, app.Alice.NamespaceId, Appliance.StorageNodeId, "storage-2",
        };
        strings.AddRange(putTokens);
        strings.AddRange(pushTokens);
        strings.AddRange([app.StorageGrpcUrl, ClosedPort, "20261201T224501Z", "20261201T224501Z-2", "../escape", "/tmp"]);
        strings.AddRange(download.Chunks.SelectMany(c => c.Tokens));
        var bytes = stored.Chunks.Select(c => c.Id).Concat(fresh.Select(c => c.Id)).Concat(throwaway).ToList();
        return new FuzzPlan("storage", targets, strings, bytes);
    }

    /// <summary>
    /// A registered node is one the metadata node will call (verification asks every live node): a mutated URL naming
    /// another host would send the test's traffic (a DNS query at least) off this machine, so it is pointed back at a
    /// closed loopback port. A frame that does not parse is left as it is: the node cannot parse it either.
    /// </summary>
    private static byte[] KeepNodeUrlsOnLoopback(byte[] frame)
    {
        RegisterNodeRequest request;
        try
        {
            request = RegisterNodeRequest.Parser.ParseFrom(frame);
        }
        catch (InvalidProtocolBufferException)
        {
            return frame;
        }

        if (IsLoopbackOrNotAUrl(request.GrpcUrl) && IsLoopbackOrNotAUrl(request.HttpUrl))
        {
            return frame;
        }

        request.GrpcUrl = IsLoopbackOrNotAUrl(request.GrpcUrl) ? request.GrpcUrl : "http://127.0.0.1:9";
        request.HttpUrl = IsLoopbackOrNotAUrl(request.HttpUrl) ? request.HttpUrl : "http://127.0.0.1:9";
        return request.ToByteArray();
    }

    /// <summary>A loopback port nobody listens on.</summary>
    private const string ClosedPort = "http://127.0.0.1:9";

    /// <summary>
    /// A push makes the node call the target it names: a mutated target naming another host is pointed back at a closed
    /// loopback port (as <see cref="KeepNodeUrlsOnLoopback"/> does for registered nodes).
    /// </summary>
    private static byte[] KeepPushTargetOnLoopback(byte[] frame)
    {
        PushChunksRequest request;
        try
        {
            request = PushChunksRequest.Parser.ParseFrom(frame);
        }
        catch (InvalidProtocolBufferException)
        {
            return frame;
        }

        if (IsLoopbackOrNotAUrl(request.TargetGrpcUrl))
        {
            return frame;
        }

        request.TargetGrpcUrl = ClosedPort;
        return request.ToByteArray();
    }

    private static bool IsLoopbackOrNotAUrl(string url) =>
        !Uri.TryCreate(url, UriKind.Absolute, out var uri)
        || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        || (System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip));

    private static FuzzTarget Target(ServiceDescriptor service, MethodDescriptor method, Dictionary<string, IMessage[]> seeds, IReadOnlyList<Credential> credentials)
    {
        var key = $"{service.Name}/{method.Name}";
        if (!seeds.TryGetValue(key, out var messages))
        {
            throw new InvalidOperationException($"The fuzzer has no seed for {key}: add valid seed requests for every rpc.");
        }

        return new FuzzTarget(service, method, messages.Select((m, i) => new FuzzSeed($"{key}#{i}", [m.ToByteArray()])).ToList(), credentials);
    }
}
