using System.Text.RegularExpressions;
using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Google.Protobuf;
using Grpc.Core;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests;

/// <summary>
/// Existence oracles: bob plans, puts and commits content alice already stores, and fresh content of the same shape, and
/// compares the answers field by field. Any difference would tell bob what alice holds.
/// </summary>
public sealed partial class ExistenceOracleTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private const int Size = 60_000;
    private const int Piece = 20_000;
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    /// <summary>Content alice stores and fresh content of identical shape, as bob would cut them.</summary>
    private async Task<((List<Proto.ChunkRef> Chunks, List<byte[]> Pieces) Known, (List<Proto.ChunkRef> Chunks, List<byte[]> Pieces) Fresh)> PairAsync(int seed)
    {
        var known = Appliance.Content(seed, Size);
        await _app.UploadAsync(_app.Alice, $"oracle/alice-{seed}.bin", known, pieceSize: Piece);
        return (Appliance.Cut(known, Piece), Appliance.Cut(Appliance.Content(seed + 50_000, Size), Piece));
    }

    [Fact]
    public async Task Planning_content_another_user_stores_answers_exactly_as_planning_fresh_content()
    {
        var (known, fresh) = await PairAsync(301);
        var bob = _app.Sync(_app.Bob);

        var a = await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/plan-known.bin", Size = Size, MtimeUnixMs = 5, Chunks = { known.Chunks } });
        var b = await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/plan-fresh.bin", Size = Size, MtimeUnixMs = 5, Chunks = { fresh.Chunks } });

        Assert.Equal(known.Chunks.Count, a.Missing.Count);
        Assert.Equal(Shape(a, known.Chunks), Shape(b, fresh.Chunks));
        Assert.Equal(a.Conflict, b.Conflict);
        Assert.Equal(a.CurrentVersion, b.CurrentVersion);
        Assert.Equal(a.CalculateSize() - a.Missing.Sum(m => m.Token.Length), b.CalculateSize() - b.Missing.Sum(m => m.Token.Length));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Putting_content_another_user_stores_answers_exactly_as_putting_fresh_content_over_http()
    {
        var (known, fresh) = await PairAsync(302);
        var bob = _app.Sync(_app.Bob);
        var planKnown = await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/put-known.bin", Size = Size, Chunks = { known.Chunks } });
        var planFresh = await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/put-fresh.bin", Size = Size, Chunks = { fresh.Chunks } });

        for (var i = 0; i < known.Chunks.Count; i++)
        {
            var putKnown = planKnown.Missing.Single(m => m.ChunkId == known.Chunks[i].Id);
            var putFresh = planFresh.Missing.Single(m => m.ChunkId == fresh.Chunks[i].Id);
            var answerKnown = await PutWithHeadersAsync(putKnown, known.Pieces[i]);
            var answerFresh = await PutWithHeadersAsync(putFresh, fresh.Pieces[i]);

            Assert.Equal(answerFresh.Status, answerKnown.Status);
            Assert.Equal(answerFresh.Body, answerKnown.Body);
            Assert.Equal(answerFresh.Headers, answerKnown.Headers);
        }

        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Putting_content_another_user_stores_answers_exactly_as_putting_fresh_content_over_grpc()
    {
        var (known, fresh) = await PairAsync(303);
        var bob = _app.Sync(_app.Bob);
        var planKnown = await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/grpc-known.bin", Size = Size, Chunks = { known.Chunks } });
        var planFresh = await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/grpc-fresh.bin", Size = Size, Chunks = { fresh.Chunks } });

        var answerKnown = await GrpcPutAllAsync(planKnown, known.Chunks, known.Pieces);
        var answerFresh = await GrpcPutAllAsync(planFresh, fresh.Chunks, fresh.Pieces);

        // Every field of every result but the chunk id itself (already_present included, whatever it says) is the same.
        Assert.Equal(known.Chunks.Count, answerKnown.Results.Count);
        Assert.Equal(answerFresh.Results.Select(WithoutId), answerKnown.Results.Select(WithoutId));
        Assert.Equal(answerFresh.CalculateSize(), answerKnown.CalculateSize());
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Committing_content_another_user_stores_without_uploading_fails_exactly_as_fresh_content_does()
    {
        var (known, fresh) = await PairAsync(304);
        var bob = _app.Sync(_app.Bob);

        // Without a plan, and after a plan (put tokens handed out, nothing put): both times the same refusal.
        foreach (var planned in new[] { false, true })
        {
            if (planned)
            {
                await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/commit-known.bin", Size = Size, Chunks = { known.Chunks } });
                await bob.PlanUploadAsync(new PlanUploadRequest { Path = "oracle/commit-fresh.bin", Size = Size, Chunks = { fresh.Chunks } });
            }

            var a = await Expect.RefusedAsync(() => bob.CommitFileAsync(new CommitFileRequest { Path = "oracle/commit-known.bin", Size = Size, Chunks = { known.Chunks } }).ResponseAsync, StatusCode.NotFound);
            var b = await Expect.RefusedAsync(() => bob.CommitFileAsync(new CommitFileRequest { Path = "oracle/commit-fresh.bin", Size = Size, Chunks = { fresh.Chunks } }).ResponseAsync, StatusCode.NotFound);
            var batch = await bob.CommitFilesAsync(new CommitFilesRequest
            {
                Files =
                {
                    new CommitFileRequest { Path = "oracle/commit-known.bin", Size = Size, Chunks = { known.Chunks } },
                    new CommitFileRequest { Path = "oracle/commit-fresh.bin", Size = Size, Chunks = { fresh.Chunks } },
                },
            });

            Assert.Equal(WithoutIds(a.Status.Detail), WithoutIds(b.Status.Detail));
            Assert.Equal(a.Trailers.GetValue("missing-chunks")!.Split(',').Length, b.Trailers.GetValue("missing-chunks")!.Split(',').Length);
            Assert.Equal(batch.Results[0].StatusCode, batch.Results[1].StatusCode);
            Assert.Equal(batch.Results[0].MissingChunkIds.Count, batch.Results[1].MissingChunkIds.Count);
            Assert.Equal(WithoutIds(batch.Results[0].ErrorMessage), WithoutIds(batch.Results[1].ErrorMessage));
        }

        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task After_uploading_it_himself_bob_commits_content_alice_also_stores_and_her_file_is_unaffected()
    {
        var content = Appliance.Content(305, Size);
        var alices = await _app.UploadAsync(_app.Alice, "oracle/shared.bin", content, pieceSize: Piece);

        var bobs = await _app.UploadAsync(_app.Bob, "oracle/shared.bin", content, pieceSize: Piece);

        Assert.Equal(Size, (int)bobs.Entry.Size);
        Assert.Equal(alices.Plan.Missing.Count, bobs.Plan.Missing.Count); // bob was asked for every chunk, as for fresh content
        var plan = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "oracle/shared.bin" });
        Assert.Equal(alices.Entry.Version, plan.Entry.Version);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    /// <summary>Which of the request's chunks were asked for, and on which node: everything but the (unique) tokens.</summary>
    private static List<(int Index, string Node, string Http)> Shape(PlanUploadResponse plan, List<Proto.ChunkRef> chunks) =>
        plan.Missing.Select(m => (chunks.FindIndex(c => c.Id == m.ChunkId), m.Node.NodeId, m.Node.HttpUrl)).ToList();

    private async Task<(int Status, string Body, string Headers)> PutWithHeadersAsync(ChunkPut put, byte[] bytes)
    {
        using var content = new ByteArrayContent(bytes);
        using var response = await _app.Http.PutAsync(Appliance.ChunkUrl(put.Node.HttpUrl, put.ChunkId, put.Token), content);
        var headers = string.Join(";", response.Headers.Concat(response.Content.Headers)
            .Where(h => h.Key is not "Date" and not "ETag")
            .OrderBy(h => h.Key, StringComparer.Ordinal)
            .Select(h => h.Key + "=" + string.Join(",", h.Value)));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), headers);
    }

    private async Task<PutChunksResponse> GrpcPutAllAsync(PlanUploadResponse plan, List<Proto.ChunkRef> chunks, List<byte[]> pieces)
    {
        using var call = _app.Storage().PutChunks();
        for (var i = 0; i < chunks.Count; i++)
        {
            var put = plan.Missing.Single(m => m.ChunkId == chunks[i].Id);
            await call.RequestStream.WriteAsync(new PutChunkRequest { Header = new ChunkHeader { ChunkId = chunks[i].Id, Encoding = Proto.ChunkEncoding.Raw, PlainSize = chunks[i].Size, StoredSize = chunks[i].StoredSize, Token = put.Token } });
            await call.RequestStream.WriteAsync(new PutChunkRequest { Data = ByteString.CopyFrom(pieces[i]) });
        }

        await call.RequestStream.CompleteAsync();
        return await call;
    }

    private static string WithoutId(PutChunkResult result)
    {
        var copy = result.Clone();
        copy.ChunkId = ByteString.Empty;
        return Convert.ToHexString(copy.ToByteArray());
    }

    private static string WithoutIds(string message) => HexId().Replace(message, "<id>");

    [GeneratedRegex("[0-9a-f]{12,64}")]
    private static partial Regex HexId();
}
