using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Google.Protobuf;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>
/// Requests mapped to the domain's uploads and windows: the wire's chunk references are parsed by the mapping, in the
/// order the domain checks its input, so a request wrong in two ways is refused for the same one it always was.
/// </summary>
public sealed class RequestMappingTests
{
    private static Proto.ChunkRef BadId()
    {
        var chunk = StoreHarness.Chunk(1).ToProto();
        chunk.Id = ByteString.CopyFrom(new byte[5]);
        return chunk;
    }

    [Fact]
    public void A_bad_path_or_time_is_reported_before_a_bad_chunk_reference()
    {
        var path = Assert.Throws<DropboxException>(() => SyncMapping.ToUpload(new PlanUploadRequest { Path = "../escape", Size = 1000, Chunks = { BadId() } }));
        var time = Assert.Throws<DropboxException>(() => SyncMapping.ToUpload(new CommitFileRequest { Path = "a", Size = 1000, MtimeUnixMs = long.MinValue, Chunks = { BadId() } }));
        var window = Assert.Throws<DropboxException>(() => SyncMapping.ToWindow(new PlanChunksRequest { Path = "../escape", Size = 1000, Chunks = { BadId() } }));

        Assert.All([path, time, window], ex => Assert.Equal(ErrorKind.InvalidArgument, ex.Kind));
        Assert.All([path, time, window], ex => Assert.DoesNotContain("Chunk #0", ex.Message, StringComparison.Ordinal));
        Assert.Contains("mtime_unix_ms", time.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_chunks_is_resource_exhausted_even_when_they_are_malformed()
    {
        var request = new CommitFileRequest { Path = "a", Size = 0 };
        request.Chunks.AddRange(Enumerable.Repeat(BadId(), Limits.MaxChunksPerFile + 1));

        var ex = Assert.Throws<DropboxException>(() => SyncMapping.ToUpload(request));

        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
    }

    [Fact]
    public void A_malformed_chunk_reference_names_its_index_and_the_file_of_a_batch()
    {
        var good = StoreHarness.Chunk(2).ToProto();
        var files = new[]
        {
            new PlanUploadRequest { Path = "a", Size = (ulong)good.Size, Chunks = { good } },
            new PlanUploadRequest { Path = "b", Size = 2000, Chunks = { good, BadId() } },
        };

        var ex = Assert.Throws<DropboxException>(() => SyncMapping.ToUploads(files, SyncMapping.ToUpload));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.StartsWith("File #1: Chunk #1: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_well_formed_request_maps_to_the_domains_upload()
    {
        var chunk = StoreHarness.Chunk(3);
        var upload = SyncMapping.ToUpload(new CommitFileRequest { Path = "dir/f.txt", Size = (ulong)chunk.Size, MtimeUnixMs = 5, Chunks = { chunk.ToProto() }, BaseVersion = 7, Device = "laptop", Executable = true });

        Assert.Equal(("dir/f.txt", (ulong)chunk.Size, 5L, 7UL, "laptop", true), (upload.Path, upload.Size, upload.MtimeUnixMs, upload.BaseVersion, upload.Device, upload.Executable));
        Assert.Equal([chunk], upload.Chunks);
    }

    [Fact]
    public void A_window_over_the_chunk_limit_is_resource_exhausted_before_any_malformed_id_is_parsed()
    {
        var request = new PlanChunksRequest { Path = "a", Size = 1000 };
        request.Chunks.AddRange(Enumerable.Repeat(BadId(), Limits.MaxChunksPerWindow + 1));

        var ex = Assert.Throws<DropboxException>(() => SyncMapping.ToWindow(request));

        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
        Assert.DoesNotContain("Chunk #", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_batch_plan_keeps_each_files_avoid_list_has_no_device_and_names_the_file_over_the_chunk_limit()
    {
        var good = StoreHarness.Chunk(4).ToProto();
        var ok = new PlanUploadRequest { Path = "a", Size = (ulong)good.Size, Chunks = { good }, AvoidNodes = { "node-b" } };
        var uploads = SyncMapping.ToUploads([ok], SyncMapping.ToUpload);
        Assert.Equal(["node-b"], uploads[0].AvoidNodes);
        Assert.Equal(string.Empty, uploads[0].Device);

        var over = new PlanUploadRequest { Path = "b", Size = 0 };
        over.Chunks.AddRange(Enumerable.Repeat(BadId(), Limits.MaxChunksPerFile + 1));
        var ex = Assert.Throws<DropboxException>(() => SyncMapping.ToUploads([ok, over], SyncMapping.ToUpload));

        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
        Assert.StartsWith("File #1: Too many chunks", ex.Message, StringComparison.Ordinal);
    }
}
