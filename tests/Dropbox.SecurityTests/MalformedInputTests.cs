using Dropbox.SecurityTests.Fuzzing;
using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Core;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests;

/// <summary>
/// Malformed, truncated, oversized, out-of-range and invalid-UTF-8 input to both nodes, sent as a third-party client
/// could: each is refused with a clear INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for size), changes nothing, and makes no
/// node log an unhandled exception.
/// </summary>
public sealed class MalformedInputTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    private static FuzzTarget Target(Google.Protobuf.Reflection.ServiceDescriptor service, string method) =>
        new(service, service.FindMethodByName(method), [], []);

    private async Task<Status> MetadataRawAsync(string method, byte[] payload, string? token, Google.Protobuf.Reflection.ServiceDescriptor? service = null) =>
        await RawCall.SendAsync(_app.MetadataChannel.CreateCallInvoker(), Target(service ?? Sync.Descriptor, method), [payload], token is null ? null : "Bearer " + token, TimeSpan.FromSeconds(30));

    private async Task<Status> StorageRawAsync(string method, IReadOnlyList<byte[]> frames) =>
        await RawCall.SendAsync(_app.StorageChannel.CreateCallInvoker(), Target(ChunkStorage.Descriptor, method), frames, null, TimeSpan.FromSeconds(30));

    /// <summary>Field <paramref name="field"/> as a length-delimited string holding "docs/" and a byte that is not UTF-8.</summary>
    private static byte[] BadString(int field) => new WireWriter().LengthDelimited(field, [.. "docs/"u8, 0xC3, 0x28]).ToArray();

    public static TheoryData<string, int> MetadataStringFields() => new()
    {
        { "PlanUpload", 1 },
        { "PlanChunks", 1 },
        { "CommitFile", 1 },
        { "CommitFile", 6 },
        { "GetDownloadPlan", 1 },
        { "ListChanges", 1 },
        { "ListFiles", 1 },
        { "ListFiles", 4 },
        { "ListVersions", 1 },
        { "Restore", 1 },
        { "DeleteFile", 1 },
        { "MoveFile", 2 },
        { "CreateFolder", 1 },
    };

    [Theory]
    [MemberData(nameof(MetadataStringFields))]
    public async Task Invalid_utf8_in_a_metadata_string_field_is_invalid_argument_with_or_without_credentials(string method, int field)
    {
        foreach (var token in new[] { _app.Alice.Token, null })
        {
            var status = await MetadataRawAsync(method, BadString(field), token);

            Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        }

        // Nested: files[0].path of CommitFiles and GetDownloadPlans, and a cluster call's node id.
        var nested = new WireWriter().LengthDelimited(1, BadString(1)).ToArray();
        Assert.Equal(StatusCode.InvalidArgument, (await MetadataRawAsync("CommitFiles", nested, _app.Alice.Token)).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await MetadataRawAsync("GetDownloadPlans", nested, _app.Alice.Token)).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await MetadataRawAsync("Heartbeat", BadString(1), _app.MetadataSystemToken(), Dropbox.Shared.Protos.Metadata.Cluster.Descriptor)).StatusCode);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Invalid_utf8_in_a_storage_token_field_is_refused_before_anything_is_read_or_written()
    {
        var id = ChunkId.Compute("x"u8).ToByteString();
        var ids = new WireWriter().LengthDelimited(1, id.Span).ToArray();
        var header = new WireWriter().LengthDelimited(1, id.Span).Tag(3, WireType.Varint).Varint(1).Tag(4, WireType.Varint).Varint(1).Raw(BadString(5)).ToArray();
        var putHeader = new WireWriter().LengthDelimited(1, header).ToArray();

        var statuses = new[]
        {
            await StorageRawAsync("HasChunks", [[.. ids, .. BadString(2)]]),
            await StorageRawAsync("DeleteChunks", [[.. ids, .. BadString(2)]]),
            await StorageRawAsync("GetChunks", [[.. ids, .. BadString(2)]]),
            await StorageRawAsync("Scrub", [BadString(1)]),
            await StorageRawAsync("PutChunks", [putHeader, new PutChunkRequest { Data = ByteString.CopyFromUtf8("x") }.ToByteArray()]),
        };

        Assert.All(statuses, s => Assert.Contains(s.StatusCode, new[] { StatusCode.InvalidArgument, StatusCode.Unauthenticated }));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Truncated_and_garbled_messages_are_invalid_argument_on_both_nodes()
    {
        var valid = new PlanUploadRequest { Path = "malformed/t.bin", Size = 10, Chunks = { ChunkRef.Raw(ChunkId.Compute("t"u8), 10).ToProto() } }.ToByteArray();
        var cases = new List<byte[]>
        {
            valid[..(valid.Length - 3)],               // cut inside the last field
            new byte[] { 0x0A, 0x05, 0x61 },                         // says 5 bytes, has 1
            new byte[] { 0x0F, 0x00 },                               // wire type 7
            new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F },       // length 4 GiB
            new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, // 11-byte varint
            new byte[] { 0x00 },                                     // field number 0
        };

        foreach (var payload in cases)
        {
            Assert.Equal(StatusCode.InvalidArgument, (await MetadataRawAsync("PlanUpload", payload, _app.Alice.Token)).StatusCode);
            Assert.Equal(StatusCode.InvalidArgument, (await StorageRawAsync("HasChunks", [payload])).StatusCode);
            Assert.Contains((await StorageRawAsync("PutChunks", [payload])).StatusCode, new[] { StatusCode.InvalidArgument });
        }

        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Messages_over_the_nodes_limits_are_resource_exhausted()
    {
        var metadata = new PlanUploadRequest { Path = new string('a', 65 * 1024 * 1024) }.ToByteArray();
        var storage = new HasChunksRequest { Token = new string('a', 2 * 1024 * 1024) }.ToByteArray();

        Assert.Equal(StatusCode.ResourceExhausted, (await MetadataRawAsync("PlanUpload", metadata, _app.Alice.Token)).StatusCode);
        Assert.Equal(StatusCode.ResourceExhausted, (await StorageRawAsync("HasChunks", [storage])).StatusCode);
        Assert.Equal("alice", (await _app.Sync(_app.Alice).GetAccountAsync(new GetAccountRequest())).User);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Theory]
    [InlineData(long.MinValue)]
    [InlineData(long.MaxValue)]
    [InlineData(253_402_300_800_000)] // year 10000
    public async Task An_mtime_no_client_can_represent_is_refused_and_commits_nothing(long mtime)
    {
        var content = Appliance.Content(401, 1_000);
        var (chunks, pieces) = Appliance.Cut(content);
        var path = $"malformed/mtime-{(ulong)mtime}.bin";
        var alice = _app.Sync(_app.Alice);
        var plan = await alice.PlanUploadAsync(new PlanUploadRequest { Path = path, Size = 1_000, MtimeUnixMs = 1, Chunks = { chunks } });
        foreach (var put in plan.Missing)
        {
            await _app.HttpPutAsync(put.Node.HttpUrl, put.ChunkId, put.Token, pieces[0]);
        }

        var request = new CommitFileRequest { Path = path, Size = 1_000, MtimeUnixMs = mtime, Chunks = { chunks } };
        var planned = await Expect.RefusedAsync(() => alice.PlanUploadAsync(new PlanUploadRequest { Path = path, Size = 1_000, MtimeUnixMs = mtime, Chunks = { chunks } }).ResponseAsync, StatusCode.InvalidArgument);
        var committed = await Expect.RefusedAsync(() => alice.CommitFileAsync(request).ResponseAsync, StatusCode.InvalidArgument);
        await Expect.RefusedAsync(() => alice.CommitFilesAsync(new CommitFilesRequest { Files = { request } }).ResponseAsync, StatusCode.InvalidArgument);

        Assert.Contains("mtime", committed.Status.Detail, StringComparison.OrdinalIgnoreCase);
        var files = await alice.ListFilesAsync(new ListFilesRequest { Prefix = "malformed", IncludeDeleted = true });
        Assert.DoesNotContain(files.Entries, e => e.Path == path);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Out_of_range_sizes_and_encodings_are_invalid_argument()
    {
        var alice = _app.Sync(_app.Alice);
        var id = ChunkId.Compute("size"u8).ToByteString();
        var requests = new[]
        {
            new PlanUploadRequest { Path = "malformed/s.bin", Size = ulong.MaxValue, Chunks = { new Proto.ChunkRef { Id = id, Size = 10, StoredSize = 10 } } },
            new PlanUploadRequest { Path = "malformed/s.bin", Size = 0, Chunks = { new Proto.ChunkRef { Id = id, Size = 0, StoredSize = 0 } } },
            new PlanUploadRequest { Path = "malformed/s.bin", Size = uint.MaxValue, Chunks = { new Proto.ChunkRef { Id = id, Size = uint.MaxValue, StoredSize = uint.MaxValue } } },
            new PlanUploadRequest { Path = "malformed/s.bin", Size = 10, Chunks = { new Proto.ChunkRef { Id = id, Size = 10, StoredSize = 10, Encoding = (Proto.ChunkEncoding)7 } } },
            new PlanUploadRequest { Path = "malformed/s.bin", Size = 10, Chunks = { new Proto.ChunkRef { Id = ByteString.CopyFrom(new byte[31]), Size = 10, StoredSize = 10 } } },
        };

        foreach (var request in requests)
        {
            await Expect.RefusedAsync(() => alice.PlanUploadAsync(request).ResponseAsync, StatusCode.InvalidArgument);
            await Expect.RefusedAsync(() => alice.CommitFileAsync(new CommitFileRequest { Path = request.Path, Size = request.Size, Chunks = { request.Chunks } }).ResponseAsync, StatusCode.InvalidArgument);
        }

        // At the storage node: a header claiming sizes beyond any chunk.
        var header = new PutChunkRequest { Header = new ChunkHeader { ChunkId = id, PlainSize = uint.MaxValue, StoredSize = uint.MaxValue, Token = "x" } }.ToByteArray();
        Assert.Equal(StatusCode.InvalidArgument, (await StorageRawAsync("PutChunks", [header])).StatusCode);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Packed_chunk_messages_whose_counts_or_lengths_lie_are_invalid_argument_and_store_none_of_their_chunks()
    {
        var chunks = Enumerable.Range(0, 3).Select(i =>
        {
            var bytes = new byte[1500 + i];
            new Random(4100 + i).NextBytes(bytes);
            return bytes;
        }).ToArray();
        var ids = chunks.Select(c => ChunkId.Compute(c)).ToArray();
        ChunkHeader Header(int i, uint? stored = null) => new()
        {
            ChunkId = ids[i].ToByteString(),
            PlainSize = (uint)chunks[i].Length,
            StoredSize = stored ?? (uint)chunks[i].Length,
            Token = _app.KeyRing.Issue(TokenOperation.Put, _app.Alice.NamespaceId, Appliance.StorageNodeId, [ids[i]], TimeSpan.FromMinutes(5)),
        };
        byte[] all = [.. chunks.SelectMany(c => c)];
        var lies = new[]
        {
            new PackedChunks { Headers = { Header(0), Header(1), Header(2) }, Data = ByteString.CopyFrom(all[..^1]) },
            new PackedChunks { Headers = { Header(0), Header(1), Header(2) }, Data = ByteString.CopyFrom([.. all, 0]) },
            new PackedChunks { Headers = { Header(0), Header(1) }, Data = ByteString.CopyFrom(all) },
            // A size no 32-bit sum survives: refused by the per-chunk packed limit (the header check and the 64-bit
            // total would refuse it too), so it shows the refusal, not any one of those checks.
            new PackedChunks { Headers = { Header(0), Header(1, uint.MaxValue), Header(2) }, Data = ByteString.CopyFrom(all) },
            new PackedChunks { Data = ByteString.CopyFrom(all) },
        };

        foreach (var lie in lies)
        {
            var status = await StorageRawAsync("PutChunks", [new PutChunkRequest { Packed = lie }.ToByteArray()]);
            Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
            Assert.False(string.IsNullOrWhiteSpace(status.Detail));
        }

        var node = _app.NodeCredential();
        var held = await _app.Storage(node).HasChunksAsync(new HasChunksRequest { ChunkIds = { ids.Select(id => id.ToByteString()) }, Token = node });
        Assert.Equal(new[] { false, false, false }, held.Present);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/abs/x")]
    [InlineData("a/../../x")]
    [InlineData("a/./b")]
    [InlineData("a\0b")]
    [InlineData("a\\b")]
    [InlineData("")]
    [InlineData("a/")]
    public async Task A_hostile_path_is_refused_by_every_call_that_takes_one(string path)
    {
        var alice = _app.Sync(_app.Alice);
        var chunk = ChunkRef.Raw(ChunkId.Compute("p"u8), 1).ToProto();
        var calls = new Func<Task>[]
        {
            () => alice.PlanUploadAsync(new PlanUploadRequest { Path = path, Size = 1, Chunks = { chunk } }).ResponseAsync,
            () => alice.CommitFileAsync(new CommitFileRequest { Path = path, Size = 1, Chunks = { chunk } }).ResponseAsync,
            () => alice.CommitFilesAsync(new CommitFilesRequest { Files = { new CommitFileRequest { Path = path, Size = 1, Chunks = { chunk } } } }).ResponseAsync,
            () => alice.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = path }).ResponseAsync,
            () => alice.ListVersionsAsync(new ListVersionsRequest { Path = path }).ResponseAsync,
            () => alice.RestoreAsync(new RestoreRequest { Path = path }).ResponseAsync,
            () => alice.DeleteFileAsync(new DeleteFileRequest { Path = path }).ResponseAsync,
            () => alice.MoveFileAsync(new MoveFileRequest { FromPath = "malformed/anything", ToPath = path }).ResponseAsync,
            () => alice.CreateFolderAsync(new CreateFolderRequest { Path = path }).ResponseAsync,
        };

        foreach (var call in calls)
        {
            await Expect.RefusedAsync(call, StatusCode.InvalidArgument);
        }

        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Huge_repeated_fields_are_refused_naming_the_limit()
    {
        var alice = _app.Sync(_app.Alice);
        var files = Enumerable.Range(0, 1001).Select(i => new CommitFileRequest { Path = $"malformed/many/{i}", Size = 1, Chunks = { ChunkRef.Raw(ChunkId.Compute("m"u8), 1).ToProto() } });
        var batch = await Expect.RefusedAsync(() => alice.CommitFilesAsync(new CommitFilesRequest { Files = { files } }).ResponseAsync, StatusCode.InvalidArgument, StatusCode.ResourceExhausted);
        Assert.Contains("1000", batch.Status.Detail, StringComparison.Ordinal);

        // 40,000 ids: over what one storage-node message may carry.
        var ids = Enumerable.Range(0, 40_000).Select(i => ChunkId.Compute(BitConverter.GetBytes(i)).ToByteString());
        var node = _app.NodeCredential();
        var has = await Expect.RefusedAsync(() => _app.Storage(node).HasChunksAsync(new HasChunksRequest { ChunkIds = { ids }, Token = node }).ResponseAsync, StatusCode.InvalidArgument, StatusCode.ResourceExhausted);
        Assert.False(string.IsNullOrWhiteSpace(has.Status.Detail));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_file_and_a_file_beneath_it_in_one_batch_are_not_both_committed(bool parentFirst)
    {
        var name = parentFirst ? "pf" : "cf";
        var parent = await Uploaded($"malformed/{name}-d", parentFirst ? 402 : 412);
        var child = await Uploaded($"malformed/{name}-d/child", parentFirst ? 403 : 413);
        var alice = _app.Sync(_app.Alice);
        var requests = parentFirst ? new[] { parent, child } : new[] { child, parent };

        var status = await Expect.StatusOfAsync(async () =>
        {
            var answer = await alice.CommitFilesAsync(new CommitFilesRequest { Files = { requests } });
            Assert.Contains(answer.Results, r => r.StatusCode != 0);
        });

        Assert.Contains(status, new[] { StatusCode.OK, StatusCode.InvalidArgument, StatusCode.AlreadyExists });
        var listed = await alice.ListFilesAsync(new ListFilesRequest { Prefix = "malformed" });
        Assert.False(listed.Entries.Any(e => e.Path == parent.Path && e.Kind == EntryKind.File) && listed.Entries.Any(e => e.Path == child.Path), "both the file and a file beneath it were committed");
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    /// <summary>Content planned and put for <paramref name="path"/> but not committed: the commit request for it.</summary>
    private async Task<CommitFileRequest> Uploaded(string path, int seed)
    {
        var content = Appliance.Content(seed, 2_000);
        var (chunks, pieces) = Appliance.Cut(content);
        var plan = await _app.Sync(_app.Alice).PlanUploadAsync(new PlanUploadRequest { Path = path, Size = 2_000, Chunks = { chunks } });
        foreach (var put in plan.Missing)
        {
            Assert.Equal(201, (await _app.HttpPutAsync(put.Node.HttpUrl, put.ChunkId, put.Token, pieces[0])).Status);
        }

        return new CommitFileRequest { Path = path, Size = 2_000, MtimeUnixMs = 1_700_000_000_000, Chunks = { chunks } };
    }
}
