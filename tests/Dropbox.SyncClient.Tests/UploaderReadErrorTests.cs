using System.Runtime.CompilerServices;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A small file its group cannot read is that file's error (reported), never "changed" (retried in silence).</summary>
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
