using System.Buffers.Binary;
using System.Text;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.Shared.Pipeline;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The client's SQLite database (WAL): settings, the synced state of every path (the merge base), and
/// an index of chunk id → local file and offset so downloads can reuse bytes already on disk.
/// Thread-safe: one connection, serialized by a lock (writes are tiny next to network and disk I/O).
/// </summary>
internal sealed class LocalState : IDisposable
{
    /// <summary>File name of the database inside the state directory.</summary>
    public const string DatabaseFileName = "client.db";

    private const int ChunkEntrySize = ChunkId.Size + 4;
    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    private LocalState(SqliteConnection db, string stateDirectory)
    {
        _db = db;
        StateDirectory = stateDirectory;
        Withheld = new WithheldStore(db, _lock);
        Uploads = new UploadProgressStore(db, _lock);
        IgnoreRules = new IgnoreRulesStore(db, _lock);
    }

    /// <summary>
    /// The keyed hash this client's chunk fast-hash lists are made with (<see cref="FastHashList"/>); its key is created
    /// once per state folder and kept in the db beside the token (see <see cref="LocalSchema.FastHashKey"/>).
    /// </summary>
    public ChunkFastHash FastHash { get; private init; } = null!;

    /// <summary>The directory holding the database, trash and control files.</summary>
    public string StateDirectory { get; }

    /// <summary>The paths whose remote change waits until they are no longer withheld here.</summary>
    public WithheldStore Withheld { get; }

    /// <summary>The uploads started and not yet finished (resume bookkeeping).</summary>
    public UploadProgressStore Uploads { get; }

    /// <summary>The rules of the ignore files the last pass that set its cursor read (applied where one cannot be read now).</summary>
    public IgnoreRulesStore IgnoreRules { get; }

    /// <summary>The one writer of this db during sync (see <see cref="LocalDbWriter"/>).</summary>
    public LocalDbWriter Writer => _writer ??= new LocalDbWriter(this);

    private LocalDbWriter? _writer;

    /// <summary>Opens (creating if needed) the database in <paramref name="stateDirectory"/>.</summary>
    public static LocalState Open(string stateDirectory)
    {
        // The database holds the account's token: owner-only folder and files. SQLite gives its -wal and -shm files
        // the database file's mode, so the database is created 0600 before SQLite opens it. Only the folder itself
        // and the client's own files are tightened: the trash keeps the user's deleted files as they were (exec
        // bits and all), and a state folder pointed at a folder of other things must not chmod them.
        PrivateFolder.Create(stateDirectory);
        var path = Path.Combine(stateDirectory, DatabaseFileName);
        if (!File.Exists(path))
        {
            new FileStream(path, PrivateFile.CreateOptions(FileMode.CreateNew)).Dispose();
        }

        foreach (var own in OwnFiles(path))
        {
            if (File.Exists(own))
            {
                PrivateFile.Restrict(own);
            }
        }

        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            db.Open();
            LocalSchema.Create(db);
            return new LocalState(db, stateDirectory) { FastHash = new ChunkFastHash(LocalSchema.FastHashKey(db)) };
        }
        catch (SqliteException e) when (IsCorrupt(e))
        {
            db.Dispose();
            throw Corrupt(path, e);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>SQLite's "file is not a database" and "database disk image is malformed".</summary>
    public static bool IsCorrupt(SqliteException e) =>
        e is { SqliteErrorCode: raw.SQLITE_NOTADB or raw.SQLITE_CORRUPT };

    /// <summary>
    /// The error for a database SQLite cannot read (garbage, truncated): it names the file and what to do. SQLite only
    /// read it, so the file stays as it was for whoever wants to look at it; nothing here deletes or rewrites it.
    /// </summary>
    public static DropboxException Corrupt(string database, SqliteException e) => new(ErrorKind.DataLoss,
        $"'{database}' is not a valid client database (SQLite: {(e.SqliteErrorCode == raw.SQLITE_NOTADB ? "file is not a database" : "database disk image is malformed")}). Move it aside " +
        "and run login again: the synced folder's files are untouched, and the next sync merges them with the server.");

    /// <summary>The database and the files SQLite keeps beside it (settings live in the database).</summary>
    private static string[] OwnFiles(string database) => [database, database + "-wal", database + "-shm", database + "-journal"];

    /// <summary>A setting, or null when unset.</summary>
    public string? GetSetting(string key)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT value FROM settings WHERE key=$k";
            cmd.Parameters.AddWithValue("$k", key);
            return cmd.ExecuteScalar() as string;
        }
    }

    /// <summary>Sets (or with null, removes) a setting.</summary>
    public void SetSetting(string key, string? value)
    {
        lock (_lock)
        {
            WriteSetting(key, value, tx: null);
        }
    }

    /// <summary>Sets (or with null, removes) a setting, inside <paramref name="tx"/> when given (and the lock).</summary>
    private void WriteSetting(string key, string? value, SqliteTransaction? tx)
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        if (value is null)
        {
            cmd.CommandText = "DELETE FROM settings WHERE key=$k";
        }
        else
        {
            cmd.CommandText = "INSERT INTO settings(key,value) VALUES($k,$v) ON CONFLICT(key) DO UPDATE SET value=excluded.value";
            cmd.Parameters.AddWithValue("$v", value);
        }

        cmd.Parameters.AddWithValue("$k", key);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Every tracked path (without chunk lists), keyed by path.</summary>
    public Dictionary<string, FileRecord> LoadFiles() => LoadFiles(_ => true);

    /// <summary>
    /// Every tracked path with only what tells an unchanged path apart (<see cref="BaseStat"/>): what a pass holds per
    /// tracked file. Paths are read once; full records are loaded afterwards only for the paths that need a decision.
    /// </summary>
    public Dictionary<string, BaseStat> LoadBaseIndex()
    {
        lock (_lock)
        {
            // Sized up front: growing a dictionary of 100,000s of entries doubles its arrays (on the large-object heap).
            int count;
            using (var countCmd = _db.CreateCommand())
            {
                countCmd.CommandText = "SELECT COUNT(*) FROM files";
                count = (int)(long)countCmd.ExecuteScalar()!;
            }

            var result = new Dictionary<string, BaseStat>(count, StringComparer.Ordinal);
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT path, kind, size, mtime, version, exec_bit, substr(hash, 1, 8), ctime FROM files";
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                // The prefix as one small array (GetFieldValue reads the column's blob). GetBytes goes through GetStream,
                // which looks, row by row, for a rowid column that would let it open the blob in place (for this expression
                // column it never finds one and does not remember the miss: a key string and the database name of every
                // other column), then copies the value through a MemoryStream: 44% of this load's samples in a pass that
                // found nothing to do over 10,000 synced files.
                var prefix = reader.IsDBNull(6) ? [] : reader.GetFieldValue<byte[]>(6);
                result[reader.GetString(0)] = new BaseStat((FileKind)reader.GetInt32(1), reader.GetInt64(2), reader.GetInt64(3), (ulong)reader.GetInt64(4))
                {
                    Executable = reader.IsDBNull(5) ? null : reader.GetInt64(5) != 0,
                    HashPrefix = BaseStat.PrefixOf(prefix),
                    ChangeTimeNs = reader.IsDBNull(7) ? 0 : reader.GetInt64(7),
                };
            }

            return result;
        }
    }

    /// <summary>The tracked paths (without chunk lists) for which <paramref name="include"/> says yes, keyed by path.</summary>
    public Dictionary<string, FileRecord> LoadFiles(Func<string, bool> include)
    {
        lock (_lock)
        {
            var result = new Dictionary<string, FileRecord>(StringComparer.Ordinal);
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT path, kind, size, mtime, version, hash, exec_bit, ctime FROM files";
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                var path = reader.GetString(0);
                if (include(path))
                {
                    result[path] = ReadRecord(reader);
                }
            }

            return result;
        }
    }

    /// <summary>The tracked records of <paramref name="paths"/> (paths not tracked are left out), keyed by path.</summary>
    public Dictionary<string, FileRecord> LoadFiles(IReadOnlyCollection<string> paths)
    {
        var result = new Dictionary<string, FileRecord>(paths.Count, StringComparer.Ordinal);
        foreach (var path in paths)
        {
            if (GetFile(path) is { } record)
            {
                result[path] = record;
            }
        }

        return result;
    }

    /// <summary>One tracked path, or null.</summary>
    public FileRecord? GetFile(string path)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT path, kind, size, mtime, version, hash, exec_bit, ctime FROM files WHERE path=$p";
            cmd.Parameters.AddWithValue("$p", path);
            using var reader = cmd.ExecuteReader();
            return reader.Read() ? ReadRecord(reader) : null;
        }
    }

    /// <summary>Up to <paramref name="limit"/> tracked files (folders excluded) picked at random, with their recorded size.</summary>
    public List<(string Path, long Size)> SampleFiles(int limit)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT path, size FROM files WHERE kind=0 ORDER BY random() LIMIT $n";
            cmd.Parameters.AddWithValue("$n", limit);
            using var reader = cmd.ExecuteReader();
            var files = new List<(string, long)>();
            while (reader.Read())
            {
                files.Add((reader.GetString(0), reader.GetInt64(1)));
            }

            return files;
        }
    }

    /// <summary>Number of tracked files (folders excluded).</summary>
    public long CountFiles()
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT COUNT(*) FROM files WHERE kind=0";
            return (long)cmd.ExecuteScalar()!;
        }
    }

    /// <summary>The chunk list recorded for a path (empty when unknown).</summary>
    public List<ChunkRef> GetChunks(string path)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT chunks FROM files WHERE path=$p";
            cmd.Parameters.AddWithValue("$p", path);
            return cmd.ExecuteScalar() is byte[] blob ? DecodeChunks(blob) : [];
        }
    }

    /// <summary>
    /// The chunks of <paramref name="path"/> as last synced with their fast hashes (<see cref="FastHashList"/>), for a
    /// re-read to identify the unchanged ones by; null when none were recorded or the stored list is not sound.
    /// </summary>
    public KnownChunks? GetKnownChunks(string path)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT chunks, fast_hashes FROM files WHERE path=$p AND kind=$k";
            cmd.Parameters.AddWithValue("$p", path);
            cmd.Parameters.AddWithValue("$k", (int)FileKind.File);
            using var reader = cmd.ExecuteReader();
            return reader.Read() && reader.GetValue(0) is byte[] chunks && reader.GetValue(1) is byte[] fastHashes
                ? FastHashList.Decode(FastHash, fastHashes, DecodeChunks(chunks), chunks)
                : null;
        }
    }

    /// <summary>Local places holding a chunk's bytes (as last synced; callers re-verify the hash).</summary>
    public List<LocalChunkLocation> FindChunk(ChunkId id)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT path, offset, length FROM chunks WHERE id=$id LIMIT 8";
            cmd.Parameters.AddWithValue("$id", id.ToArray());
            using var reader = cmd.ExecuteReader();
            var result = new List<LocalChunkLocation>();
            while (reader.Read())
            {
                result.Add(new LocalChunkLocation(reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2)));
            }

            return result;
        }
    }

    /// <summary>
    /// <see cref="FindChunk"/> for many chunks in a few queries: the local places of each chunk found (ids not found are
    /// left out, at most 8 places each).
    /// </summary>
    public Dictionary<ChunkId, List<LocalChunkLocation>> FindChunks(IReadOnlyCollection<ChunkId> ids)
    {
        const int PerQuery = 500;
        var result = new Dictionary<ChunkId, List<LocalChunkLocation>>();
        var all = ids.ToList();
        lock (_lock)
        {
            for (var start = 0; start < all.Count; start += PerQuery)
            {
                var count = Math.Min(PerQuery, all.Count - start);
                using var cmd = _db.CreateCommand();
                var names = new string[count];
                for (var i = 0; i < count; i++)
                {
                    names[i] = "$i" + i;
                    cmd.Parameters.AddWithValue(names[i], all[start + i].ToArray());
                }

                cmd.CommandText = $"SELECT id, path, offset, length FROM chunks WHERE id IN ({string.Join(',', names)})";
                using var reader = cmd.ExecuteReader();
                while (reader.Read())
                {
                    var id = new ChunkId((byte[])reader.GetValue(0));
                    if (!result.TryGetValue(id, out var places))
                    {
                        result[id] = places = [];
                    }

                    if (places.Count < 8)
                    {
                        places.Add(new LocalChunkLocation(reader.GetString(1), reader.GetInt64(2), reader.GetInt32(3)));
                    }
                }
            }
        }

        return result;
    }

    /// <summary>Records a synced path and (for files) its chunk list, replacing what was there.</summary>
    public void PutFile(FileRecord record, IReadOnlyList<ChunkRef>? chunks) => PutFiles([(record, chunks)]);

    /// <summary>
    /// As <see cref="PutFile(FileRecord, IReadOnlyList{ChunkRef}?)"/>, with each chunk's fast hash (<see cref="FileFingerprint"/>'s
    /// <c>FastHashes</c>, in the order of <paramref name="chunks"/>) kept for the file's next read; null, or a list that
    /// does not pair up with <paramref name="chunks"/>, keeps none.
    /// </summary>
    public void PutFile(FileRecord record, IReadOnlyList<ChunkRef>? chunks, IReadOnlyList<UInt128>? fastHashes) =>
        PutFiles([(record, chunks, fastHashes)]);

    /// <summary>
    /// Records many synced paths (each as <see cref="PutFile"/>) in one transaction: all of them or, on a failure or a
    /// crash, none. Callers record only files that are durably in place.
    /// </summary>
    /// <remarks>
    /// Four statements prepared once per call and bound by position on the connection's handle: through
    /// <see cref="SqliteCommand"/> every execution looked its parameters up by name (a UTF-8 copy of each name, per row),
    /// which was most of the cost of recording 10,000 new files.
    /// </remarks>
    public void PutFiles(IReadOnlyList<(FileRecord Record, IReadOnlyList<ChunkRef>? Chunks)> files) =>
        PutFiles(files.Select(f => (f.Record, f.Chunks, (IReadOnlyList<UInt128>?)null)).ToList());

    /// <summary>As <see cref="PutFiles(IReadOnlyList{ValueTuple{FileRecord, IReadOnlyList{ChunkRef}}})"/>, each file with its chunks' fast hashes (see <see cref="PutFile(FileRecord, IReadOnlyList{ChunkRef}?, IReadOnlyList{UInt128}?)"/>).</summary>
    public void PutFiles(IReadOnlyList<(FileRecord Record, IReadOnlyList<ChunkRef>? Chunks, IReadOnlyList<UInt128>? FastHashes)> files)
    {
        if (files.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            WriteFiles(files);
            tx.Commit();
        }
    }

    /// <summary>
    /// Records a file moved from <paramref name="from"/> to the path of <paramref name="to"/> in one transaction: the
    /// old row and its chunk index rows removed, the new one written with <paramref name="chunks"/>, and the old row's
    /// fast-hash list value carried over as it is in the row when the new row is a file. A crash leaves
    /// either both rows as they were or the move whole.
    /// </summary>
    public void MoveFile(string from, FileRecord to, IReadOnlyList<ChunkRef>? chunks) => MoveFiles([(from, to, chunks)], []);

    /// <summary>
    /// Records each of <paramref name="moves"/> as <see cref="MoveFile"/> does and sets each of <paramref name="settings"/>
    /// (a null value removes it) in ONE transaction: a crash or a failure leaves every row and setting as they were, or all
    /// of it done (a case-conflict rename's rows, the remote deletes remembered for them and the end of its intent, which
    /// are only right together).
    /// </summary>
    public void MoveFiles(IReadOnlyList<(string From, FileRecord To, IReadOnlyList<ChunkRef>? Chunks)> moves, IReadOnlyList<(string Key, string? Value)> settings)
    {
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            foreach (var (from, to, chunks) in moves)
            {
                MoveRow(from, to, chunks, tx);
            }

            foreach (var (key, value) in settings)
            {
                WriteSetting(key, value, tx);
            }

            tx.Commit();
        }
    }

    /// <summary>One move of <see cref="MoveFiles"/>, inside its transaction (and lock).</summary>
    private void MoveRow(string from, FileRecord to, IReadOnlyList<ChunkRef>? chunks, SqliteTransaction tx)
    {
        byte[]? fastHashes;
        using (var read = _db.CreateCommand())
        {
            read.Transaction = tx;
            read.CommandText = "SELECT fast_hashes FROM files WHERE path=$p AND kind=$k";
            read.Parameters.AddWithValue("$p", from);
            read.Parameters.AddWithValue("$k", (int)FileKind.File);
            fastHashes = read.ExecuteScalar() as byte[];
        }

        DeleteFileRows(from, tx);
        WriteFiles([(to, chunks, null)]);
        if (fastHashes is not null && to.Kind == FileKind.File)
        {
            using var update = _db.CreateCommand();
            update.Transaction = tx;
            update.CommandText = "UPDATE files SET fast_hashes=$v WHERE path=$p AND kind=$k";
            update.Parameters.AddWithValue("$v", fastHashes);
            update.Parameters.AddWithValue("$p", to.Path);
            update.Parameters.AddWithValue("$k", (int)FileKind.File);
            update.ExecuteNonQuery();
        }
    }

    /// <summary>The rows of <see cref="PutFiles(IReadOnlyList{ValueTuple{FileRecord, IReadOnlyList{ChunkRef}, IReadOnlyList{UInt128}}})"/>, inside the caller's transaction (and lock).</summary>
    private void WriteFiles(IReadOnlyList<(FileRecord Record, IReadOnlyList<ChunkRef>? Chunks, IReadOnlyList<UInt128>? FastHashes)> files)
    {
        var db = _db.Handle!;
        using var deleteFile = Prepare(db, "DELETE FROM files WHERE path=?1");
        using var deleteChunks = Prepare(db, "DELETE FROM chunks WHERE path=?1");
        using var insertFile = Prepare(db, "INSERT INTO files(path,kind,size,mtime,version,hash,chunks,exec_bit,ctime,fast_hashes) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
        using var insertChunk = Prepare(db, "INSERT INTO chunks(id,path,offset,length) VALUES(?1,?2,?3,?4)");
        Span<byte> id = stackalloc byte[ChunkId.Size];
        foreach (var (record, chunks, fastHashes) in files)
        {
            // A zero-length buffer binds NULL, not '', and NULL paths would never be found again: refuse the row.
            var path = record.Path.Length > 0
                ? Encoding.UTF8.GetBytes(record.Path)
                : throw new ArgumentException("A file record has an empty path; nothing was written.", nameof(files));
            Bound(db, raw.sqlite3_bind_text(deleteFile, 1, path));
            Step(db, deleteFile);
            Bound(db, raw.sqlite3_bind_text(deleteChunks, 1, path));
            Step(db, deleteChunks);
            Bound(db, raw.sqlite3_bind_text(insertFile, 1, path));
            Bound(db, raw.sqlite3_bind_int64(insertFile, 2, (int)record.Kind));
            Bound(db, raw.sqlite3_bind_int64(insertFile, 3, record.Size));
            Bound(db, raw.sqlite3_bind_int64(insertFile, 4, record.MtimeTicks));
            Bound(db, raw.sqlite3_bind_int64(insertFile, 5, (long)record.Version));
            BindBlob(db, insertFile, 6, record.ContentHash);
            var chunksBlob = EncodeChunks(chunks ?? []);
            BindBlob(db, insertFile, 7, chunksBlob);
            Bound(db, record.Executable is { } executable ? raw.sqlite3_bind_int64(insertFile, 8, executable ? 1 : 0) : raw.sqlite3_bind_null(insertFile, 8));
            Bound(db, record.ChangeTimeNs is { } ctime ? raw.sqlite3_bind_int64(insertFile, 9, ctime) : raw.sqlite3_bind_null(insertFile, 9));
            BindBlob(db, insertFile, 10, fastHashes is { Count: > 0 } && fastHashes.Count == chunks?.Count && record.Kind == FileKind.File ? FastHashList.Encode(fastHashes, chunksBlob) : null);
            Step(db, insertFile);
            if (chunks is not { Count: > 0 })
            {
                continue;
            }

            long offset = 0;
            foreach (var chunk in chunks)
            {
                chunk.Id.WriteTo(id);
                Bound(db, raw.sqlite3_bind_blob(insertChunk, 1, id));
                Bound(db, raw.sqlite3_bind_text(insertChunk, 2, path));
                Bound(db, raw.sqlite3_bind_int64(insertChunk, 3, offset));
                Bound(db, raw.sqlite3_bind_int64(insertChunk, 4, chunk.Size));
                Step(db, insertChunk);
                offset += chunk.Size;
            }
        }
    }

    private static sqlite3_stmt Prepare(sqlite3 db, string sql)
    {
        SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(db, sql, out var stmt), db);
        return stmt;
    }

    /// <summary>Runs a statement that returns no rows and resets it for its next row; an error throws as Microsoft.Data.Sqlite would.</summary>
    private static void Step(sqlite3 db, sqlite3_stmt stmt)
    {
        var rc = raw.sqlite3_step(stmt);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc == raw.SQLITE_ROW ? raw.SQLITE_MISUSE : rc, db);
        }

        raw.sqlite3_reset(stmt);
    }

    /// <summary>
    /// An empty blob is bound as a zero-length blob and a null one as NULL (which the NOT NULL columns refuse), as
    /// Microsoft.Data.Sqlite binds them.
    /// </summary>
    private static void BindBlob(sqlite3 db, sqlite3_stmt stmt, int index, byte[]? value)
    {
        if (value is null)
        {
            Bound(db, raw.sqlite3_bind_null(stmt, index));
        }
        else if (value.Length == 0)
        {
            Bound(db, raw.sqlite3_bind_zeroblob(stmt, index, 0));
        }
        else
        {
            Bound(db, raw.sqlite3_bind_blob(stmt, index, value));
        }
    }

    /// <summary>
    /// Throws, as Microsoft.Data.Sqlite would, when a bind failed: a reset statement keeps its bindings, so a failed
    /// bind would otherwise write the previous row's value.
    /// </summary>
    private static void Bound(sqlite3 db, int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
    }

    /// <summary>True when some record's content was read racily (its mtime smudged, see <see cref="RacyClean"/>).</summary>
    public bool HasRacyFiles()
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT EXISTS(SELECT 1 FROM files WHERE kind=$k AND mtime < -1)";
            cmd.Parameters.AddWithValue("$k", (int)FileKind.File);
            return (long)cmd.ExecuteScalar()! != 0;
        }
    }

    /// <summary>True when some synced file's executable bit is unknown (<c>exec_bit</c> NULL).</summary>
    public bool HasUnknownExecutableBits()
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT EXISTS(SELECT 1 FROM files WHERE kind=$k AND exec_bit IS NULL)";
            cmd.Parameters.AddWithValue("$k", (int)FileKind.File);
            return (long)cmd.ExecuteScalar()! != 0;
        }
    }

    /// <summary>Updates only the recorded mtime and ctime (content verified unchanged; a null ctime: unknown).</summary>
    public void TouchFile(string path, long mtimeTicks, long? ctimeNs)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "UPDATE files SET mtime=$m, ctime=$c WHERE path=$p";
            cmd.Parameters.AddWithValue("$p", path);
            cmd.Parameters.AddWithValue("$m", mtimeTicks);
            cmd.Parameters.AddWithValue("$c", ctimeNs is { } c ? c : DBNull.Value);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// Records the ctime of files found as synced whose ctime was unknown (each only where it is still unknown and the
    /// size and mtime are still the ones it was found with), in one transaction.
    /// </summary>
    public void SetUnknownChangeTimes(IReadOnlyList<(string Path, long Size, long MtimeTicks, long CtimeNs)> files)
    {
        if (files.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            using var cmd = _db.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "UPDATE files SET ctime=$c WHERE path=$p AND ctime IS NULL AND size=$s AND mtime=$m";
            var p = cmd.Parameters.Add("$p", SqliteType.Text);
            var c = cmd.Parameters.Add("$c", SqliteType.Integer);
            var size = cmd.Parameters.Add("$s", SqliteType.Integer);
            var m = cmd.Parameters.Add("$m", SqliteType.Integer);
            foreach (var file in files)
            {
                p.Value = file.Path;
                c.Value = file.CtimeNs;
                size.Value = file.Size;
                m.Value = file.MtimeTicks;
                cmd.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    /// <summary>Sets one synced file's executable bit (null: unknown), nothing else.</summary>
    public void SetExecutableBit(string path, bool? executable)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "UPDATE files SET exec_bit=$x WHERE path=$p";
            cmd.Parameters.AddWithValue("$p", path);
            cmd.Parameters.AddWithValue("$x", executable is { } x ? (x ? 1 : 0) : DBNull.Value);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>Makes every synced file's executable bit unknown, then stores the probe's answer <paramref name="held"/>, in one transaction.</summary>
    public void ResetExecutableBits(string held)
    {
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            using (var reset = _db.CreateCommand())
            {
                reset.Transaction = tx;
                reset.CommandText = "UPDATE files SET exec_bit=NULL WHERE exec_bit IS NOT NULL";
                reset.ExecuteNonQuery();
            }

            WriteSetting(StateKeys.ExecutableBitHeld, held, tx);

            tx.Commit();
        }
    }

    /// <summary>Forgets a path (and its chunk index rows).</summary>
    public void RemoveFile(string path)
    {
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            DeleteFileRows(path, tx);
            tx.Commit();
        }
    }

    /// <summary>
    /// Forgets every tracked path and the cursor (after a relink to another folder or account), the remembered ignore
    /// files (the setting and their rules: another folder's rules are not this one's), and the case-conflict memories of the
    /// old link (the server moves followed renames follow: put back in the new server's view they would make a file here
    /// look synced at the old server's version, never sent; the losers the old server refused to rename), and the old
    /// server's files remembered above the state directory (with the listing mark, so the first pass lists everything).
    /// </summary>
    public void ResetSyncState()
    {
        lock (_lock)
        {
            LocalSchema.Exec(_db, "DELETE FROM files; DELETE FROM chunks; DELETE FROM uploads; DELETE FROM withheld; DELETE FROM ignore_rules; DELETE FROM settings WHERE key IN ('cursor','last_sync','last_summary','last_reconcile','ignore_files','case_followed_moves','case_refused_on_server','case_rename_intent','files_above_state_directory','files_above_state_directory_listed');");
        }
    }

    public void Dispose()
    {
        _db.Dispose();
    }

    internal static byte[] EncodeChunks(IReadOnlyList<ChunkRef> chunks)
    {
        var blob = new byte[chunks.Count * ChunkEntrySize];
        for (var i = 0; i < chunks.Count; i++)
        {
            var span = blob.AsSpan(i * ChunkEntrySize, ChunkEntrySize);
            chunks[i].Id.WriteTo(span);
            BinaryPrimitives.WriteInt32LittleEndian(span[ChunkId.Size..], chunks[i].Size);
        }

        return blob;
    }

    internal static List<ChunkRef> DecodeChunks(byte[] blob)
    {
        var result = new List<ChunkRef>(blob.Length / ChunkEntrySize);
        for (var i = 0; i + ChunkEntrySize <= blob.Length; i += ChunkEntrySize)
        {
            var span = blob.AsSpan(i, ChunkEntrySize);
            result.Add(ChunkRef.Raw(new ChunkId(span[..ChunkId.Size]), BinaryPrimitives.ReadInt32LittleEndian(span[ChunkId.Size..])));
        }

        return result;
    }

    private void DeleteFileRows(string path, SqliteTransaction tx)
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM files WHERE path=$p; DELETE FROM chunks WHERE path=$p;";
        cmd.Parameters.AddWithValue("$p", path);
        cmd.ExecuteNonQuery();
    }

    private static FileRecord ReadRecord(SqliteDataReader reader) => new(
        reader.GetString(0),
        (FileKind)reader.GetInt32(1),
        reader.GetInt64(2),
        reader.GetInt64(3),
        (ulong)reader.GetInt64(4),
        (byte[])reader.GetValue(5))
    {
        Executable = reader.IsDBNull(6) ? null : reader.GetInt64(6) != 0,
        ChangeTimeNs = reader.IsDBNull(7) ? null : reader.GetInt64(7),
    };
}
