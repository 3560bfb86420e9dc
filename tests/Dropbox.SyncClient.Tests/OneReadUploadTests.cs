using Dropbox.Shared.Chunks;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A large upload reads its file once: chunks stream through plan windows (PlanChunks), missing ones are put while the
/// file is read on, and the commit names the whole list. A file hashed before (an edit) reads back only the stretches
/// holding missing chunks, each hashed again. Nothing read from a file that changed meanwhile is ever committed.
/// </summary>
public sealed class OneReadUploadTests : IDisposable
{
    private static readonly SyncOptions SmallWindows = new() { PlanWindowChunks = 8, PutBatchChunks = 4 };

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_new_file_is_read_once_planned_in_windows_and_each_distinct_chunk_is_sent_once()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        using var b = new TestClient(_dir, "b", _server);
        var counting = new CountingChunkSource(a.Context.Chunker);
        var engine = new SyncEngine(new SyncContext
        {
            Folder = a.Folder, State = a.State, Metadata = _server, Transfer = _server, Chunker = counting, Device = "a", Options = SmallWindows,
        });
        var half = TestClient.RandomBytes(600_000, 21);
        var content = half.Concat(TestClient.RandomBytes(50_000, 22)).Concat(half).ToArray(); // over the small-file size; the repeat's chunks come again in later windows
        a.Write("big.bin", content);

        var up = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, up.Errors);
        Assert.Equal(1, up.FilesUploaded);
        Assert.Equal(content.Length, counting.BytesCut); // read once: no separate hashing pass
        var entry = _server.Current("big.bin")!;
        var distinct = entry.Chunks.Select(c => c.Id).Distinct().Count();
        Assert.True(_server.PlannedWindows > 2, $"{_server.PlannedWindows} windows for {entry.Chunks.Count} chunks");
        Assert.True(distinct < entry.Chunks.Count, "the test needs repeated chunks");
        Assert.Equal(distinct, _server.ChunksPut);
        Assert.Equal(distinct, up.ChunksUploaded);
        Assert.Equal(a.State.GetChunks("big.bin").Select(c => c.Id), entry.Chunks.Select(c => c.Id.ToChunkId()));
        Assert.Empty(a.State.Uploads.Pending());

        var down = await b.SyncAsync();
        Assert.Equal(1, down.FilesDownloaded);
        Assert.Equal(content, File.ReadAllBytes(b.PathOf("big.bin")));
    }

    [Fact]
    public async Task A_file_rewritten_in_place_while_it_is_read_and_uploaded_is_never_committed()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        var first = TestClient.RandomBytes(600_000, 23);
        a.Write("big.bin", first);
        var full = a.PathOf("big.bin");
        var rewritten = false;
        _server.BeforePlanUpload = _ =>
        {
            if (rewritten)
            {
                return;
            }

            // Same size, new bytes at the start (already read by now), a new mtime: only a re-check can tell.
            rewritten = true;
            using (var f = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            {
                f.Write(TestClient.RandomBytes(1000, 24));
            }

            File.SetLastWriteTimeUtc(full, DateTime.UtcNow.AddSeconds(-30));
        };

        var changed = await a.SyncAsync();

        Assert.True(rewritten);
        Assert.Equal(0, changed.Errors);
        Assert.Equal(0, changed.FilesUploaded);
        Assert.Equal(1, changed.Pending);
        Assert.Null(_server.Current("big.bin"));
        Assert.Null(a.State.GetFile("big.bin"));

        var again = await a.SyncAsync();
        Assert.Equal(1, again.FilesUploaded);
        using var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        Assert.Equal(File.ReadAllBytes(full), File.ReadAllBytes(b.PathOf("big.bin")));
    }

    [Fact]
    public async Task A_file_rewritten_in_place_with_its_mtime_restored_while_it_is_read_is_never_committed_as_a_mix()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        var content = TestClient.RandomBytes(8 << 20, 27);
        a.Write("big.bin", content);
        var full = a.PathOf("big.bin");
        var rewritten = false;
        _server.BeforePlanUpload = _ =>
        {
            if (rewritten)
            {
                return;
            }

            // The first window is read (byte 0 is behind the reader), the last byte not yet: a mix of old and new bytes
            // under the same size and mtime (as touch -r or a timestamp-keeping tool leaves it). Only the ctime moves.
            rewritten = true;
            var mtime = File.GetLastWriteTimeUtc(full);
            using (var f = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            {
                f.WriteByte((byte)(content[0] ^ 0xFF));
                f.Seek(-1, SeekOrigin.End);
                f.WriteByte((byte)(content[^1] ^ 0xFF));
            }

            File.SetLastWriteTimeUtc(full, mtime);
        };

        var first = await a.SyncAsync();

        Assert.True(rewritten);
        Assert.Equal(0, first.Errors);
        var final = File.ReadAllBytes(full);
        Assert.NotEqual(content, final);
        if (_server.Current("big.bin") is not null)
        {
            using var peek = new TestClient(_dir, "peek", _server);
            await peek.SyncAsync();
            Assert.Equal(final, File.ReadAllBytes(peek.PathOf("big.bin"))); // never the mix the file did not hold
        }

        Assert.Equal(1, first.Pending);
        Assert.Null(_server.Current("big.bin"));
        var again = await a.SyncAsync();
        Assert.Equal(1, again.FilesUploaded);
        using var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        Assert.Equal(final, File.ReadAllBytes(b.PathOf("big.bin")));
    }

    [Fact]
    public async Task A_file_that_grows_while_it_is_read_stops_at_the_next_window_instead_of_being_read_and_sent_to_the_end()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        a.Write("big.bin", TestClient.RandomBytes(3 << 20, 28));
        var full = a.PathOf("big.bin");
        var appended = 0;
        _server.BeforePlanUpload = _ =>
        {
            // A log being written: 1 MiB more at every window (bounded, so the unfixed read ends too).
            if (appended < 40)
            {
                appended++;
                using var f = new FileStream(full, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
                f.Write(TestClient.RandomBytes(1 << 20, 100 + appended));
            }
        };

        var growing = await a.SyncAsync();

        Assert.Equal(0, growing.FilesUploaded);
        Assert.Null(_server.Current("big.bin"));
        Assert.InRange(_server.PlannedWindows, 1, 2); // the window after the first growth is never planned
        Assert.InRange(_server.ChunksPut, 0, 2 * SmallWindows.PlanWindowChunks);

        _server.BeforePlanUpload = null;
        File.SetLastWriteTimeUtc(full, DateTime.UtcNow.AddSeconds(-30));
        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);
        Assert.Equal((ulong)new FileInfo(full).Length, _server.Current("big.bin")!.Size);
    }

    [Fact]
    public async Task An_edit_sends_only_its_changed_chunks_and_a_stretch_that_no_longer_hashes_as_read_is_never_committed()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        using var b = new TestClient(_dir, "b", _server);
        var content = TestClient.RandomBytes(800_000, 25);
        a.Write("big.bin", content);
        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);
        var put = _server.ChunksPut;

        // One byte inserted at the start: only the first chunk (or two) changes.
        var edited = new byte[] { 42 }.Concat(content).ToArray();
        a.Write("big.bin", edited);
        File.SetLastWriteTimeUtc(a.PathOf("big.bin"), DateTime.UtcNow.AddSeconds(-20));
        var full = a.PathOf("big.bin");
        var tampered = false;
        _server.BeforePlanUpload = _ =>
        {
            if (tampered)
            {
                return;
            }

            // Between hashing and the read-back of the changed stretch: other bytes under the same size and mtime.
            tampered = true;
            var mtime = File.GetLastWriteTimeUtc(full);
            using (var f = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            {
                f.WriteByte(43);
            }

            File.SetLastWriteTimeUtc(full, mtime);
        };

        var refused = await a.SyncAsync();

        Assert.True(tampered);
        Assert.Equal(0, refused.Errors);
        Assert.Equal(0, refused.FilesUploaded);
        Assert.Equal(1, refused.Pending);
        Assert.Equal(put, _server.ChunksPut); // nothing sent: the stretch did not hash to the chunk it was read as
        Assert.Equal(content.Length, (long)_server.Current("big.bin")!.Size);

        File.SetLastWriteTimeUtc(full, DateTime.UtcNow.AddSeconds(-10));
        var edit = await a.SyncAsync();

        Assert.Equal(1, edit.FilesUploaded);
        Assert.InRange(edit.ChunksUploaded, 1, 2);
        await b.SyncAsync();
        edited[0] = 43;
        Assert.Equal(edited, File.ReadAllBytes(b.PathOf("big.bin")));
    }

    [Fact]
    public async Task An_edit_whose_file_grows_before_its_stretches_are_read_back_sends_nothing()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        var content = TestClient.RandomBytes(800_000, 31);
        a.Write("big.bin", content);
        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);
        var put = _server.ChunksPut;
        var full = a.PathOf("big.bin");
        content[400_000] ^= 0xFF; // one chunk in the middle changes
        a.Write("big.bin", content);
        File.SetLastWriteTimeUtc(full, DateTime.UtcNow.AddSeconds(-20));
        var appended = false;
        _server.BeforePlanUpload = _ =>
        {
            if (!appended)
            {
                // Hashed already, not yet read back: the stretch still hashes as it did, but the file is not the one hashed.
                appended = true;
                using var f = new FileStream(full, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
                f.Write(TestClient.RandomBytes(1 << 20, 32));
            }
        };

        var refused = await a.SyncAsync();

        Assert.True(appended);
        Assert.Equal(0, refused.FilesUploaded);
        Assert.Equal(put, _server.ChunksPut); // nothing read back and sent for a file that changed
    }

    [Fact]
    public async Task Puts_start_while_the_file_is_still_being_read_so_memory_does_not_grow_with_the_file()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        a.Write("big.bin", TestClient.RandomBytes(3_000_000, 26));

        var up = await a.SyncAsync();

        Assert.Equal(1, up.FilesUploaded);
        Assert.True(_server.PlannedWindows >= 10, $"only {_server.PlannedWindows} windows");
        // Held at once: the window being read, the one being planned, and the puts in flight (Parallelism batches).
        Assert.InRange(_server.PlannedWindowsAtFirstPut, 1, 5);
    }

    [Fact]
    public async Task A_batch_that_does_not_fill_is_sent_after_a_window_instead_of_holding_its_read_blocks_to_the_end()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows with { PutBatchChunks = 10_000 });
        a.Write("big.bin", TestClient.RandomBytes(3_000_000, 29));

        var up = await a.SyncAsync();

        Assert.Equal(1, up.FilesUploaded);
        Assert.True(_server.PlannedWindows >= 10, $"only {_server.PlannedWindows} windows");
        Assert.InRange(_server.PlannedWindowsAtFirstPut, 1, 4); // not only once the whole file was read
    }

    [Fact]
    public void A_file_range_stream_tells_its_length_and_seeks_only_within_its_stretch()
    {
        var path = Path.Combine(_dir.Path, "range.bin");
        File.WriteAllBytes(path, TestClient.RandomBytes(1000, 30));
        using var handle = File.OpenHandle(path);
        using var stream = new Dropbox.SyncClient.Local.FileRangeStream(handle, 100, 300);

        Assert.True(stream.CanSeek); // so a chunk source sizes its first block to the stretch, not a full 16 MiB
        Assert.Equal(300, stream.Length);
        Assert.Equal(250, stream.Seek(-50, SeekOrigin.End));
        var rest = new byte[100];
        Assert.Equal(50, stream.Read(rest));
        Assert.Equal(File.ReadAllBytes(path).AsSpan(350, 50).ToArray(), rest[..50]);
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Seek(1, SeekOrigin.End));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Position = -1);
    }

    /// <summary>Counts the bytes a chunk source cuts (every byte a pass reads from files goes through it).</summary>
    private sealed class CountingChunkSource(Dropbox.SyncClient.Local.IChunkSource inner) : Dropbox.SyncClient.Local.IChunkSource
    {
        private long _bytes;

        public long BytesCut => Interlocked.Read(ref _bytes);

        public async IAsyncEnumerable<Dropbox.SyncClient.Local.SourceChunk> ReadAsync(Stream input, bool keepData, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            await foreach (var chunk in inner.ReadAsync(input, keepData, ct).ConfigureAwait(false))
            {
                Interlocked.Add(ref _bytes, chunk.Ref.Size);
                yield return chunk;
            }
        }
    }

    [Fact]
    public async Task A_lone_empty_new_file_uploads_through_the_one_read_path()
    {
        using var a = new TestClient(_dir, "a", _server, SmallWindows);
        a.Write("empty.bin", []);

        var up = await a.SyncAsync();

        Assert.Equal(1, up.FilesUploaded);
        Assert.Equal(0UL, _server.Current("empty.bin")!.Size);
        Assert.Equal(0, _server.PlannedWindows);
    }
}
