using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Pipeline;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.Testing;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A re-read of a synced file that identifies its unchanged chunks by their fast hash (<see cref="KnownChunks"/>,
/// recorded in the db by <see cref="FastHashList"/>) gives exactly the fingerprint a full SHA-256 read gives, whatever
/// the edit and whatever the stored list holds; only a fast-hash match with the right length takes a listed id.
/// </summary>
public sealed class KnownChunksTests : IDisposable
{
    private const int Cases = 200;
    private readonly TempFolder _dir = new();
    private readonly LocalState _state;
    private readonly FileHasher _hasher = new(new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: false, parallelism: 2));

    public KnownChunksTests() => _state = LocalState.Open(_dir.CreateSub("state"));

    public void Dispose()
    {
        _state.Dispose();
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    [Fact]
    public async Task After_any_edit_the_fingerprint_with_the_recorded_list_equals_the_full_hash()
    {
        var path = Path.Combine(_dir.Path, "f.bin");
        var shortcuts = 0;
        for (var seed = 0; seed < Cases; seed++)
        {
            var random = new Random(seed);
            var before = new byte[random.Next(0, 600_000)];
            FillCompressibleOrNot(random, before);
            File.WriteAllBytes(path, before);
            var synced = await _hasher.TryHashAsync(path, KnownChunks.None(_state.FastHash), CancellationToken.None);
            Assert.NotNull(synced);
            Assert.NotNull(synced.FastHashes);
            Record("f.bin", synced);

            var (edit, after) = Edit(random, before);
            File.WriteAllBytes(path, after);
            var known = _state.GetKnownChunks("f.bin");
            Assert.True(known is not null || synced.Chunks.Count == 0, $"seed {seed}: the recorded list did not come back");
            var withList = await _hasher.TryHashAsync(path, known, CancellationToken.None);
            var full = await _hasher.TryHashAsync(path, CancellationToken.None);

            Assert.NotNull(withList);
            Assert.NotNull(full);
            Assert.True(full.Chunks.Select(c => (c.Id, c.Size)).SequenceEqual(withList.Chunks.Select(c => (c.Id, c.Size))), $"seed {seed} ({edit}): chunk lists differ");
            Assert.Equal(full.ContentHash, withList.ContentHash);
            Assert.Equal(withList.Chunks.Count, withList.FastHashes!.Count);
            shortcuts += withList.Chunks.Count(c => synced.Chunks.Any(s => s.Id == c.Id));
        }

        Assert.True(shortcuts > Cases, $"only {shortcuts} chunks were unchanged over {Cases} edits: the cases do not exercise the shortcut");
    }

    [Fact]
    public async Task A_listed_chunk_with_its_length_and_fast_hash_takes_the_listed_id_without_SHA256()
    {
        var path = Write("f.bin", TestClient.RandomBytes(300_000, 1));
        var synced = (await _hasher.TryHashAsync(path, KnownChunks.None(_state.FastHash), CancellationToken.None))!;
        var planted = ChunkId.Compute("not these bytes"u8);

        // The first chunk listed under a made-up id: only a read that skips SHA-256 for a match can return it.
        var ids = synced.Chunks.Select((c, i) => i == 0 ? ChunkRef.Raw(planted, c.Size) : c).ToList();
        var read = await _hasher.TryHashAsync(path, new KnownChunks(_state.FastHash, ids, synced.FastHashes!), CancellationToken.None);

        Assert.Equal(planted, read!.Chunks[0].Id);
        Assert.Equal(synced.Chunks.Skip(1).Select(c => c.Id), read.Chunks.Skip(1).Select(c => c.Id));
    }

    [Fact]
    public async Task A_list_whose_entries_have_other_lengths_ids_or_fast_hashes_never_changes_the_fingerprint()
    {
        var path = Write("f.bin", TestClient.RandomBytes(400_000, 2));
        var synced = (await _hasher.TryHashAsync(path, KnownChunks.None(_state.FastHash), CancellationToken.None))!;
        var other = (await _hasher.TryHashAsync(Write("other.bin", TestClient.RandomBytes(400_000, 3)), KnownChunks.None(_state.FastHash), CancellationToken.None))!;
        var bogus = ChunkId.Compute("bogus"u8);
        var chunks = synced.Chunks;
        var fast = synced.FastHashes!;

        KnownChunks[] lists =
        [
            // The right fast hashes under another length and a wrong id: a lookup by fast hash alone would take them.
            new(_state.FastHash, chunks.Select(c => ChunkRef.Raw(bogus, c.Size + 1)).ToList(), fast),
            new(_state.FastHash, chunks.Select(c => ChunkRef.Raw(bogus, c.Size - 1)).ToList(), fast),
            // Wrong fast hashes with the right lengths and wrong ids.
            new(_state.FastHash, chunks.Select(c => ChunkRef.Raw(bogus, c.Size)).ToList(), fast.Select(f => f + 1).ToList()),
            // Another file's list.
            new(_state.FastHash, other.Chunks, other.FastHashes!),
            // One entry listed twice under two ids: it cannot have come from one read, so neither is trusted.
            new(_state.FastHash, [.. chunks, ChunkRef.Raw(bogus, chunks[0].Size)], [.. fast, fast[0]]),
        ];

        foreach (var (list, i) in lists.Select((l, i) => (l, i)))
        {
            var read = await _hasher.TryHashAsync(path, list, CancellationToken.None);
            Assert.True(synced.Chunks.Select(c => c.Id).SequenceEqual(read!.Chunks.Select(c => c.Id)), $"list {i} changed the fingerprint");
            Assert.Equal(synced.ContentHash, read.ContentHash);
        }
    }

    [Fact]
    public async Task A_damaged_or_misplaced_stored_list_is_not_used()
    {
        var path = Write("f.bin", TestClient.RandomBytes(300_000, 4));
        var synced = (await _hasher.TryHashAsync(path, KnownChunks.None(_state.FastHash), CancellationToken.None))!;
        var other = (await _hasher.TryHashAsync(Write("g.bin", TestClient.RandomBytes(300_000, 5)), KnownChunks.None(_state.FastHash), CancellationToken.None))!;
        Record("f.bin", synced);
        Record("g.bin", other);
        Assert.NotNull(_state.GetKnownChunks("f.bin"));

        // Each damage on a fresh copy of the row.
        Action[] damages =
        [
            () => Damage("chunks", blob => Flip(blob, 5)), // a chunk id
            () => Damage("chunks", blob => Flip(blob, ChunkId.Size)), // a chunk length
            () => Damage("fast_hashes", blob => Flip(blob, 3)), // a fast hash
            () => Damage("fast_hashes", blob => Flip(blob, 0)), // the format
            () => Damage("fast_hashes", blob => [.. blob[..^24], .. blob[^8..]]), // one hash cut out
            () => Exec("UPDATE files SET fast_hashes = (SELECT fast_hashes FROM files WHERE path='g.bin') WHERE path='f.bin'"), // g's list
        ];
        foreach (var damage in damages)
        {
            Record("f.bin", synced);
            damage();
            Assert.Null(_state.GetKnownChunks("f.bin"));
        }

        // The read with whatever the db gives is the full read's.
        var read = await _hasher.TryHashAsync(path, _state.GetKnownChunks("f.bin"), CancellationToken.None);
        Assert.Equal(synced.ContentHash, read!.ContentHash);
    }

    [Fact]
    public async Task A_row_written_without_fast_hashes_or_with_a_list_that_does_not_pair_up_keeps_none()
    {
        var path = Write("f.bin", TestClient.RandomBytes(300_000, 6));
        var synced = (await _hasher.TryHashAsync(path, KnownChunks.None(_state.FastHash), CancellationToken.None))!;
        Record("f.bin", synced);
        Assert.Equal(synced.FastHashes!.Count, _state.GetKnownChunks("f.bin")!.Count);

        _state.PutFile(Record(synced, "f.bin"), synced.Chunks); // a record written by a path that keeps no list
        Assert.Null(_state.GetKnownChunks("f.bin"));

        _state.PutFile(Record(synced, "f.bin"), synced.Chunks, synced.FastHashes!.Skip(1).ToList());
        Assert.Null(_state.GetKnownChunks("f.bin"));
    }

    private static (string Edit, byte[] After) Edit(Random random, byte[] before)
    {
        var at = random.Next(0, before.Length + 1);
        var n = random.Next(1, 1 + (random.Next(2) == 0 ? 16 : 70_000));
        var bytes = new byte[n];
        random.NextBytes(bytes);
        switch (random.Next(5))
        {
            case 0:
                return ($"insert {n} at {at}", [.. before[..at], .. bytes, .. before[at..]]);
            case 1:
                var end = Math.Min(before.Length, at + n);
                return ($"delete {end - at} at {at}", [.. before[..at], .. before[end..]]);
            case 2:
                var after = (byte[])before.Clone();
                var count = Math.Min(n, after.Length - at);
                bytes.AsSpan(0, count).CopyTo(after.AsSpan(at));
                return ($"overwrite {count} at {at}", after);
            case 3:
                return ($"append {n}", [.. before, .. bytes]);
            default:
                return ($"truncate to {at}", before[..at]);
        }
    }

    /// <summary>Random bytes, or runs of repeated ones (chunks of equal content and length repeat within a file).</summary>
    private static void FillCompressibleOrNot(Random random, byte[] data)
    {
        random.NextBytes(data);
        if (random.Next(3) == 0)
        {
            var run = random.Next(1, 50_000);
            for (var i = run; i < data.Length; i++)
            {
                data[i] = data[i % run];
            }
        }
    }

    private string Write(string name, byte[] content)
    {
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private void Record(string path, FileFingerprint fp) => _state.PutFile(Record(fp, path), fp.Chunks, fp.FastHashes);

    private static FileRecord Record(FileFingerprint fp, string path) => new(path, FileKind.File, fp.Size, fp.MtimeTicks, 1, fp.ContentHash);

    private static byte[] Flip(byte[] blob, int at)
    {
        blob[at] ^= 2;
        return blob;
    }

    private void Damage(string column, Func<byte[], byte[]> change)
    {
        using var db = Open();
        using var read = db.CreateCommand();
        read.CommandText = $"SELECT {column} FROM files WHERE path='f.bin'";
        var blob = change((byte[])read.ExecuteScalar()!);
        using var write = db.CreateCommand();
        write.CommandText = $"UPDATE files SET {column}=$b WHERE path='f.bin'";
        write.Parameters.AddWithValue("$b", blob);
        Assert.Equal(1, write.ExecuteNonQuery());
    }

    private SqliteConnection Open()
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_state.StateDirectory, LocalState.DatabaseFileName), Pooling = false }.ToString());
        db.Open();
        return db;
    }

    private void Exec(string sql)
    {
        using var db = Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        Assert.Equal(1, cmd.ExecuteNonQuery());
    }
}
