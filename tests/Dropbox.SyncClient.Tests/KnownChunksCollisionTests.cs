using System.Buffers.Binary;
using System.IO.Hashing;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Pipeline;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Dropbox.Testing;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The fast hash a re-read identifies unchanged chunks by (<see cref="ChunkFastHash"/>) is keyed by a secret of the
/// client's state: two versions of a file made by someone else to collide under an unkeyed hash (XXH3-128, which two
/// 8-byte writes collide) each get their own SHA-256 ids and sync; a reconcile (the repair path) never takes an id from
/// a stored list; and a missing or changed key only makes the stored lists miss.
/// </summary>
public sealed class KnownChunksCollisionTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_same_size_edit_made_to_collide_under_XXH3_syncs_its_new_bytes()
    {
        var content = TestClient.RandomBytes(20 * 1024 * 1024, 7);
        var hasher = new FileHasher(new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: false, parallelism: 2));
        var probe = Path.Combine(_dir.CreateSub("probe"), "p.bin");
        File.WriteAllBytes(probe, content);
        var cuts = (await hasher.TryHashAsync(probe, CancellationToken.None))!.Chunks;
        var start = (int)cuts.Take(100).Sum(c => (long)c.Size);
        var len = cuts[100].Size;

        var v1 = (byte[])content.Clone();
        PlantXxh3Collision(v1, start, 0);
        var v2 = (byte[])content.Clone();
        PlantXxh3Collision(v2, start, 0x12345678);
        // The two chunks differ, and collide under the unkeyed XXH3-128: the inputs are what an attacker can make.
        Assert.False(v1.AsSpan(start, len).SequenceEqual(v2.AsSpan(start, len)));
        Assert.Equal(XxHash128.HashToUInt128(v1.AsSpan(start, len)), XxHash128.HashToUInt128(v2.AsSpan(start, len)));

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("doc.bin", v1);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await b.SyncAsync();
        Assert.Equal(v1, File.ReadAllBytes(b.PathOf("doc.bin")));
        Assert.NotNull(a.State.GetKnownChunks("doc.bin"));

        a.Write("doc.bin", v2);
        File.SetLastWriteTimeUtc(a.PathOf("doc.bin"), DateTime.UtcNow.AddSeconds(-30));
        var up = await a.SyncAsync();
        await b.SyncAsync();
        var full = (await hasher.TryHashAsync(a.PathOf("doc.bin"), CancellationToken.None))!;
        Assert.Equal((1, 0), (up.FilesUploaded, up.Errors));
        Assert.Equal(full.Chunks[100].Id, a.State.GetChunks("doc.bin")[100].Id);
        Assert.True(File.ReadAllBytes(b.PathOf("doc.bin")).AsSpan().SequenceEqual(v2), "b still has the first version's bytes");
        Assert.NotEqual(a.State.FastHash.Compute(v1.AsSpan(start, len)), a.State.FastHash.Compute(v2.AsSpan(start, len)));
    }

    [Fact]
    public async Task With_the_production_chunker_a_16_byte_XXH3_colliding_edit_at_offset_64_gets_its_own_chunk_id()
    {
        var hasher = new FileHasher(new PipelineChunkSource(new FastCdcChunker(ChunkerOptions.Default), compress: false, parallelism: 2));
        using var state = LocalState.Open(_dir.CreateSub("state"));
        var content = TestClient.RandomBytes(20 * 1024 * 1024, 3);
        var v1 = (byte[])content.Clone();
        PlantXxh3Collision(v1, 0, 0);
        var v2 = (byte[])content.Clone();
        PlantXxh3Collision(v2, 0, 0x0BADF00D);
        var path = Path.Combine(_dir.CreateSub("prod"), "release.iso");
        File.WriteAllBytes(path, v1);
        var synced = (await hasher.TryHashAsync(path, KnownChunks.None(state.FastHash), CancellationToken.None))!;
        Assert.Equal(XxHash128.HashToUInt128(v1.AsSpan(0, synced.Chunks[0].Size)), XxHash128.HashToUInt128(v2.AsSpan(0, synced.Chunks[0].Size)));

        File.WriteAllBytes(path, v2);
        var withList = (await hasher.TryHashAsync(path, new KnownChunks(state.FastHash, synced.Chunks, synced.FastHashes!), CancellationToken.None))!;
        var full = (await hasher.TryHashAsync(path, CancellationToken.None))!;
        Assert.NotEqual(synced.Chunks[0].Id, full.Chunks[0].Id);
        Assert.Equal(full.Chunks[0].Id, withList.Chunks[0].Id);
        Assert.Equal(full.ContentHash, withList.ContentHash);
    }

    [Fact]
    public async Task A_reconcile_hashes_every_chunk_even_when_the_stored_list_names_the_new_bytes_by_the_old_id()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var v1 = TestClient.RandomBytes(20 * 1024 * 1024, 9);
        a.Write("doc.bin", v1);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await b.SyncAsync();
        var chunks = a.State.GetChunks("doc.bin");
        var start = (int)chunks.Take(100).Sum(c => (long)c.Size);
        var len = chunks[100].Size;

        // A same-size edit inside chunk 100, and a stored list as a fast-hash collision would leave it: chunk 100's
        // entry pairs the new bytes' fast hash with the old id (the row passes its check: written by LocalState).
        var v2 = (byte[])v1.Clone();
        v2[start + (len / 2)] ^= 0x40;
        var fast = new List<UInt128>(chunks.Count);
        var offset = 0;
        foreach (var c in chunks)
        {
            fast.Add(a.State.FastHash.Compute(v1.AsSpan(offset, c.Size)));
            offset += c.Size;
        }

        fast[100] = a.State.FastHash.Compute(v2.AsSpan(start, len));
        a.Write("doc.bin", v2);
        File.SetLastWriteTimeUtc(a.PathOf("doc.bin"), DateTime.UtcNow.AddSeconds(-30));
        a.State.PutFile(a.State.GetFile("doc.bin")!, chunks, fast);
        Assert.Equal(chunks[100].Id, a.State.GetKnownChunks("doc.bin")!.TryGetId(len, fast[100], out var listed) ? listed : default);

        var rec = await a.SyncAsync(new SyncOptions { Reconcile = true });
        await b.SyncAsync();
        Assert.Equal((1, 0), (rec.FilesUploaded, rec.Errors));
        Assert.Equal(ChunkId.Compute(v2.AsSpan(start, len)), a.State.GetChunks("doc.bin")[100].Id);
        Assert.True(File.ReadAllBytes(b.PathOf("doc.bin")).AsSpan().SequenceEqual(v2), "b still has the first version's bytes");
    }

    [Fact]
    public void The_key_is_made_once_per_state_folder_kept_on_reopen_and_differs_between_folders()
    {
        var data = TestClient.RandomBytes(100_000, 4);
        UInt128 first;
        using (var state = LocalState.Open(_dir.CreateSub("one")))
        {
            first = state.FastHash.Compute(data);
        }

        using (var again = LocalState.Open(Path.Combine(_dir.Path, "one")))
        {
            Assert.Equal(first, again.FastHash.Compute(data));
        }

        using var other = LocalState.Open(_dir.CreateSub("two"));
        Assert.NotEqual(first, other.FastHash.Compute(data));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir.Path, "one", LocalState.DatabaseFileName)));
        }
    }

    [Theory]
    [InlineData("another key")]
    [InlineData("deleted")]
    [InlineData("not a key")]
    [InlineData("too short")]
    public async Task A_changed_or_missing_key_makes_the_stored_list_miss_never_name_a_chunk(string change)
    {
        var folder = _dir.CreateSub("state");
        var hasher = new FileHasher(new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: false, parallelism: 2));
        var path = Path.Combine(_dir.Path, "f.bin");
        File.WriteAllBytes(path, TestClient.RandomBytes(300_000, 8));
        var planted = ChunkId.Compute("not these bytes"u8);
        FileFingerprint synced;
        using (var state = LocalState.Open(folder))
        {
            synced = (await hasher.TryHashAsync(path, KnownChunks.None(state.FastHash), CancellationToken.None))!;
            // Chunk 0 stored under a made-up id: a read that takes it proves the list matched.
            var ids = synced.Chunks.Select((c, i) => i == 0 ? ChunkRef.Raw(planted, c.Size) : c).ToList();
            state.PutFile(new FileRecord("f.bin", FileKind.File, synced.Size, synced.MtimeTicks, 1, synced.ContentHash), ids, synced.FastHashes);
            var before = (await hasher.TryHashAsync(path, state.GetKnownChunks("f.bin"), CancellationToken.None))!;
            Assert.Equal(planted, before.Chunks[0].Id);
        }

        using (var db = new SqliteConnection($"Data Source={Path.Combine(folder, LocalState.DatabaseFileName)};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = change == "deleted" ? "DELETE FROM settings WHERE key=$k" : "UPDATE settings SET value=$v WHERE key=$k";
            cmd.Parameters.AddWithValue("$k", StateKeys.FastHashKey);
            cmd.Parameters.AddWithValue("$v", change switch
            {
                "another key" => Convert.ToBase64String(ChunkFastHash.NewKey()),
                "too short" => Convert.ToBase64String(new byte[16]),
                _ => "not base64!",
            });
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }

        using var reopened = LocalState.Open(folder);
        var known = reopened.GetKnownChunks("f.bin");
        Assert.NotNull(known); // the row is intact; only its tags were made under another key
        var read = (await hasher.TryHashAsync(path, known, CancellationToken.None))!;
        Assert.Equal(synced.Chunks.Select(c => c.Id), read.Chunks.Select(c => c.Id));
        Assert.Equal(synced.ContentHash, read.ContentHash);
        Assert.Equal(synced.Chunks.Count, read.FastHashes!.Count);
    }

    /// <summary>
    /// XXH3's long-input accumulation adds lo32(w^k) * hi32(w^k) per lane: with lo32(w) = lo32(k) the product is 0
    /// whatever hi32(w) is, so moving 2^32*t from stripe 1's lane 0 to stripe 2's leaves every accumulator as it was.
    /// </summary>
    private static void PlantXxh3Collision(byte[] data, int chunkStart, uint t)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(chunkStart + 64), ((ulong)(1u + t) << 32) | 0x2c81017cu); // secret[8..16) lo32
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(chunkStart + 128), ((ulong)(2u - t) << 32) | 0xe96dd4deu); // secret[16..24) lo32
    }
}
