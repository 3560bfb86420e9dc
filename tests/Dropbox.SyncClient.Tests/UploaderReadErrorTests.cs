using System.Runtime.CompilerServices;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A small file its group cannot read is that file's error (reported), never "changed" (retried in silence); one gone is changed, never its group's failure.</summary>
public sealed class UploaderReadErrorTests : IDisposable
{
    private const int UnreadableSize = 7777;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_small_file_whose_read_fails_in_its_group_is_left_to_upload_alone_where_its_read_error_is_thrown()
    {
        // Arrange: two small files in one group; reading the second fails with an I/O error (as a bad sector would).
        using var a = new TestClient(_dir, "a", _server);
        var ctx = new SyncContext
        {
            Folder = a.Context.Folder, State = a.Context.State, Metadata = a.Context.Metadata, Transfer = a.Context.Transfer,
            Chunker = new FailingChunkSource(a.Context.Chunker), Device = a.Context.Device, Options = a.Context.Options,
            Barrier = a.Context.Barrier, Time = a.Context.Time,
        };
        var ok = Action(ctx, "ok.txt", 5000, 1);
        var bad = Action(ctx, "bad.txt", UnreadableSize, 2);
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(ctx, new SyncSummary(), slots, new FileHasher(ctx.Chunker));

        // Act
        var results = await uploader.UploadAsync([ok, bad], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var alone = await Record.ExceptionAsync(() => uploader.UploadOneAsync(bad, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

        // Assert: the readable file committed; the other has no outcome (not Changed), and alone its read error is thrown.
        Assert.Equal(UploadOutcome.Committed, results.Single(r => r.Action == ok).Outcome);
        Assert.Null(results.Single(r => r.Action == bad).Outcome);
        Assert.IsType<IOException>(alone);
        Assert.Contains("Input/output error", alone.Message);
        Assert.Null(_server.Current("bad.txt"));
    }

    [Fact]
    public async Task A_file_hashed_by_the_planner_and_deleted_before_its_put_is_changed_and_the_rest_of_its_group_commits()
    {
        // Arrange: three small files hashed (as the planner hashes them); one is deleted before the upload reads it back.
        using var a = new TestClient(_dir, "a", _server);
        var hasher = new FileHasher(a.Context.Chunker);
        var actions = new List<SyncAction>();
        foreach (var (name, seed) in new[] { ("a.bin", 1), ("b.bin", 2), ("gone.bin", 3) })
        {
            a.Write(name, TestClient.RandomBytes(20_000, seed));
            File.SetLastWriteTimeUtc(a.PathOf(name), DateTime.UtcNow.AddMinutes(-5));
            actions.Add(new SyncAction(SyncActionKind.Upload, name) { Fingerprint = await hasher.TryHashAsync(a.PathOf(name), CancellationToken.None) });
        }

        File.Delete(a.PathOf("gone.bin"));
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, hasher);

        // Act
        var results = await uploader.UploadAsync(actions, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        // Assert: one group, two commits; the deleted file is changed (it was failing the whole group, each retried alone).
        var outcomes = string.Join(", ", results.Select(r => $"{r.Action.Path}={r.Outcome?.ToString() ?? "none"}"));
        Assert.True(results.Single(r => r.Action.Path == "a.bin").Outcome == UploadOutcome.Committed, outcomes);
        Assert.True(results.Single(r => r.Action.Path == "b.bin").Outcome == UploadOutcome.Committed, outcomes);
        Assert.True(results.Single(r => r.Action.Path == "gone.bin").Outcome == UploadOutcome.Changed, outcomes);
        Assert.Null(_server.Current("gone.bin"));
    }

    private static SyncAction Action(SyncContext ctx, string name, int size, int seed)
    {
        var path = Path.Combine(ctx.Folder, name);
        File.WriteAllBytes(path, TestClient.RandomBytes(size, seed));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        var info = new FileInfo(path);
        return new SyncAction(SyncActionKind.Upload, name) { Local = new LocalEntry(name, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, SettlesIn: null) };
    }

    /// <summary>Fails every read of a file of <see cref="UnreadableSize"/> bytes, whole or streamed, as an I/O error.</summary>
    private sealed class FailingChunkSource(IChunkSource inner) : IChunkSource
    {
        public async IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, [EnumeratorCancellation] CancellationToken ct)
        {
            if (input.CanSeek && input.Length == UnreadableSize)
            {
                throw new IOException("Input/output error");
            }

            await foreach (var chunk in inner.ReadAsync(input, keepData, ct).ConfigureAwait(false))
            {
                yield return chunk;
            }
        }

        public ValueTask<List<SourceChunk>> CutWholeAsync(ReadOnlyMemory<byte> data, CancellationToken ct) =>
            data.Length == UnreadableSize ? throw new IOException("Input/output error") : inner.CutWholeAsync(data, ct);
    }
}
