using System.Runtime.CompilerServices;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The small-file uploader's bounds: a file read for its group is read no further than its fingerprint says (plus
/// one byte).
/// </summary>
public sealed class SmallFileUploaderBoundsTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_small_file_that_grew_into_a_large_one_after_it_was_fingerprinted_is_handed_back_without_being_read_past_its_fingerprint()
    {
        // Arrange: a 20 kB file fingerprinted by the scan, then grown to 32 MiB before its group reads it.
        using var a = new TestClient(_dir, "a", _server);
        var counting = new CountingChunkSource(a.Context.Chunker);
        var ctx = WithChunker(a.Context, counting);
        var path = Path.Combine(ctx.Folder, "log.txt");
        File.WriteAllBytes(path, TestClient.RandomBytes(20_000, 1));
        var fp = await new FileHasher(a.Context.Chunker).TryHashAsync(path, CancellationToken.None);
        Assert.NotNull(fp);
        using (var grow = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            grow.SetLength(32 << 20);
        }

        using var slots = new SemaphoreSlim(4);
        var uploader = new SmallFileUploader(ctx, new SyncSummary(), slots, new FileHasher(counting));
        var action = new SyncAction(SyncActionKind.Upload, "log.txt") { Fingerprint = fp, Local = new LocalEntry("log.txt", FileKind.File, fp.Size, fp.MtimeTicks) };

        // Act
        var handedBack = await uploader.UploadAsync([action], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: handed back to the one-file path (it changed), and no more than fp.Size + 1 bytes were cut.
        Assert.Equal([action], handedBack);
        Assert.InRange(counting.BytesCut, 0, fp.Size + 1);
        Assert.Equal(0, _server.CommitFilesCalls);
    }

    private static SyncContext WithChunker(SyncContext c, IChunkSource chunker) => new()
    {
        Folder = c.Folder, State = c.State, Metadata = c.Metadata, Transfer = c.Transfer, Chunker = chunker,
        Device = c.Device, Options = c.Options, Barrier = c.Barrier, Time = c.Time,
    };

    /// <summary>Counts the bytes handed to a chunk source, streamed or whole.</summary>
    private sealed class CountingChunkSource(IChunkSource inner) : IChunkSource
    {
        private long _bytes;

        public long BytesCut => Interlocked.Read(ref _bytes);

        public async IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, [EnumeratorCancellation] CancellationToken ct)
        {
            await foreach (var chunk in inner.ReadAsync(input, keepData, ct).ConfigureAwait(false))
            {
                Interlocked.Add(ref _bytes, chunk.Ref.Size);
                yield return chunk;
            }
        }

        public ValueTask<List<SourceChunk>> CutWholeAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            Interlocked.Add(ref _bytes, data.Length);
            return inner.CutWholeAsync(data, ct);
        }
    }
}
