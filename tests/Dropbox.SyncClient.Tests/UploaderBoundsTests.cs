using System.Runtime.CompilerServices;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The uploader's bounds: a file read for its group is read no further than its fingerprint says (plus one byte),
/// and no group is left running once <see cref="Uploader.UploadAsync"/> has ended.
/// </summary>
public sealed class UploaderBoundsTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_small_file_that_grew_into_a_large_one_after_it_was_fingerprinted_is_left_as_changed_without_being_read_past_its_fingerprint()
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
        var uploader = new Uploader(ctx, new SyncSummary(), slots, new FileHasher(counting));
        var action = new SyncAction(SyncActionKind.Upload, "log.txt") { Fingerprint = fp, Local = new LocalEntry("log.txt", FileKind.File, fp.Size, fp.MtimeTicks, SettlesIn: null) };

        // Act
        var results = await uploader.UploadAsync([action], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: left for the next pass (it changed), and no more than fp.Size + 1 bytes were cut.
        Assert.Equal([new UploadResult(action, UploadOutcome.Changed, fp)], results);
        Assert.InRange(counting.BytesCut, 0, fp.Size + 1);
        Assert.Equal(0, _server.CommitFilesCalls);
    }

    [Fact]
    public async Task Cancelling_with_every_group_in_flight_leaves_no_group_running_once_the_upload_has_ended()
    {
        // Arrange: four groups of sixteen 1 MiB files (fingerprinted, so nothing is read before the plan). Each group's
        // plan waits for the cancel; then groups 0 and 1 fail at once, groups 2 and 3 only once the upload has ended
        // (or after a bound, if the upload waits for them as it should).
        using var a = new TestClient(_dir, "a", _server);
        var seedPath = Path.Combine(a.Context.Folder, "seed.bin");
        File.WriteAllBytes(seedPath, TestClient.RandomBytes(1000, 2));
        var seed = await new FileHasher(a.Context.Chunker).TryHashAsync(seedPath, CancellationToken.None);
        Assert.NotNull(seed);
        var filesPerGroup = (int)(Uploader.MaxGroupBytes / Uploader.SmallFileSize);
        var actions = Enumerable.Range(0, Uploader.GroupsInFlight * filesPerGroup)
            .Select(i => new SyncAction(SyncActionKind.Upload, $"g{i / filesPerGroup}-{i:D3}.bin")
            {
                Fingerprint = new FileFingerprint(Uploader.SmallFileSize, seed.MtimeTicks, seed.Chunks, seed.ContentHash),
            })
            .ToList();

        using var cts = new CancellationTokenSource();
        var running = 0;
        var entered = 0;
        var allEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var uploadStarted = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.BeforePlanUploads = async (request, ct) =>
        {
            Interlocked.Increment(ref running);
            try
            {
                if (Interlocked.Increment(ref entered) == Uploader.GroupsInFlight)
                {
                    allEntered.SetResult();
                }

                await Task.Delay(Timeout.Infinite, ct).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
                if (request.Files[0].Path[1] - '0' >= 2)
                {
                    var upload = await uploadStarted.Task;
                    await Task.WhenAny(upload, Task.Delay(TimeSpan.FromSeconds(1)));
                }

                ct.ThrowIfCancellationRequested();
            }
            finally
            {
                if (Interlocked.Decrement(ref running) == 0 && Volatile.Read(ref entered) == Uploader.GroupsInFlight)
                {
                    allDone.TrySetResult();
                }
            }
        };
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, new FileHasher(a.Context.Chunker));

        // Act: cancel once all four groups are planning.
        var upload = uploader.UploadAsync(actions, cts.Token);
        var runningAtEnd = upload.ContinueWith(_ => Volatile.Read(ref running), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        uploadStarted.SetResult(upload);
        await allEntered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cts.CancelAsync();
        var thrown = await Record.ExceptionAsync(() => upload.WaitAsync(TimeSpan.FromSeconds(30)));
        await allDone.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Assert: the cancellation surfaces, and when it did no group was still running.
        Assert.IsAssignableFrom<OperationCanceledException>(thrown);
        Assert.Equal(0, await runningAtEnd);
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
