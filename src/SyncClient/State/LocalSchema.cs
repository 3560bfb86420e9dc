using Dropbox.Shared.Chunks;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The local db's tables and their migrations, run when <see cref="LocalState.Open"/> opens it: a db of any earlier
/// build is brought to this one's columns in place (each added column says what its old rows read as).
/// </summary>
internal static class LocalSchema
{
    /// <summary>
    /// The db's generation, kept in SQLite's <c>user_version</c>: raised by a build after which a db must not be run by an
    /// earlier build (one that would read it wrongly, not only lack a column). A build opens a db of its generation or
    /// an earlier one (and raises it to its own); a later one it refuses before writing anything (see
    /// <see cref="TakeGeneration"/>). Builds before generation 1 never read it: a downgrade to one of them is not caught.
    /// </summary>
    public const int Generation = 1;

    private static Dropbox.Shared.Errors.DropboxException Newer(SqliteConnection db, long found) =>
        new(Dropbox.Shared.Errors.ErrorKind.InvalidArgument,
            $"'{db.DataSource}' was written by a newer client (database generation {found}; this client reads up to {Generation}), which may " +
            "keep what it knows in ways this one would misread. Run that newer client, or log in again with another --state " +
            "directory: the synced folder's files are untouched, and the next sync merges them with the server.");

    /// <summary>
    /// Refuses a db a newer build wrote, raises an older one to this generation, then sets the journal mode, creates the
    /// tables a new db lacks and adds the columns an older one lacks.
    /// </summary>
    public static void Create(SqliteConnection db)
    {
        TakeGeneration(db);
        Exec(db, "PRAGMA journal_mode=WAL;");
        Exec(db, "PRAGMA synchronous=NORMAL;");
        // ignore_rules came after the rest: a db from before it gets it empty (nothing remembered: an ignore file that
        // cannot be read is handled as it was until a pass that sets its cursor remembers it). A build from before it
        // rewrites the ignore_files setting and not these rows: a row counts only where that setting names its hash.
        Exec(db, """
            CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS files(
                path TEXT PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                version INTEGER NOT NULL, hash BLOB NOT NULL, chunks BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS chunks(id BLOB NOT NULL, path TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS chunks_by_id ON chunks(id);
            CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(path);
            CREATE TABLE IF NOT EXISTS uploads(path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                chunks_total INTEGER NOT NULL, chunks_done INTEGER NOT NULL, started INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS withheld(path TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS ignore_rules(folder TEXT PRIMARY KEY, hash TEXT NOT NULL, rules TEXT NOT NULL,
                device INTEGER, inode INTEGER, size INTEGER, mtime INTEGER);
            """);
        AddExecutableColumn(db);
        AddChangeTimeColumn(db);
        AddFastHashesColumn(db);
    }

    /// <summary>
    /// The first thing an open does. A db of a later generation is refused with a clear error that names it and what to
    /// do, before anything is written (only read: nothing in it changes). An earlier one is raised to this generation
    /// before any migration, checked again and raised in one write transaction (a newer build raising it meanwhile is
    /// seen, never lowered): a crash after the raise and before the migrations leaves a db earlier builds refuse and
    /// this one migrates again (each migration adds only what is missing). One of this generation takes no write lock.
    /// </summary>
    private static void TakeGeneration(SqliteConnection db)
    {
        var seen = GenerationOf(db);
        if (seen > Generation)
        {
            throw Newer(db, seen);
        }

        if (seen == Generation)
        {
            return;
        }

        Exec(db, "BEGIN IMMEDIATE;");
        try
        {
            var found = GenerationOf(db);
            if (found > Generation)
            {
                throw Newer(db, found);
            }

            if (found < Generation)
            {
                Exec(db, $"PRAGMA user_version = {Generation};");
            }

            Exec(db, "COMMIT;");
        }
        catch
        {
            Exec(db, "ROLLBACK;");
            throw;
        }
    }

    private static long GenerationOf(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA user_version;";
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The inode change time of each synced file when its stamp was recorded, <c>ctime</c> (ns), NULL for unknown. Added
    /// to a db from before it with every row NULL: an unknown ctime is compared as before (size and mtime), so an
    /// upgraded device reads nothing more; each row learns its ctime the next time its stamp is recorded or the scan
    /// finds it as synced.
    /// </summary>
    private static void AddChangeTimeColumn(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('files') WHERE name='ctime'";
        if ((long)cmd.ExecuteScalar()! == 0)
        {
            Exec(db, "ALTER TABLE files ADD COLUMN ctime INTEGER;");
        }
    }

    /// <summary>
    /// The owner-executable bit of each synced file, <c>exec_bit</c>: 1, 0, or NULL for unknown. Added to a db from
    /// before it with every old row NULL: an old row never claims "not executable", which would make an upgraded device
    /// send a chmod-only version of every executable file. A db of the first builds that kept the bit has a column
    /// <c>executable NOT NULL DEFAULT 0</c>, whose migrated rows cannot be told from real zeros: it is left unused
    /// (its rows read unknown too, which costs nothing: the next version of the file sends the bit read here).
    /// </summary>
    private static void AddExecutableColumn(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('files') WHERE name='exec_bit'";
        if ((long)cmd.ExecuteScalar()! == 0)
        {
            // Every row unknown: the first pass where the folder holds the bit lists everything once and adopts the
            // server's bit for each (SyncEngine's probe step), so a chmod made here afterwards is a change.
            Exec(db, "ALTER TABLE files ADD COLUMN exec_bit INTEGER;");
            // Rows written without the bit are marked as such ("cannot hold"); a new db has none and stores nothing.
            Exec(db, $"INSERT INTO settings(key,value) SELECT '{StateKeys.ExecutableBitHeld}','0' WHERE EXISTS(SELECT 1 FROM files) ON CONFLICT(key) DO UPDATE SET value=excluded.value;");
        }
    }

    /// <summary>
    /// The secret key of <see cref="LocalState.FastHash"/>: 32 random bytes made the first time, kept in the settings table of this
    /// owner-only db (never logged, never sent: a collision is only out of an attacker's reach while the key is). A row
    /// that is missing or not a key of the right size is replaced with a new key; every stored list then simply misses
    /// (its tags were made under another key) and is hashed in full and recorded anew on its next read. INSERT OR IGNORE
    /// then read back: two processes opening a new db at once agree on one key.
    /// </summary>
    public static byte[] FastHashKey(SqliteConnection db)
    {
        for (var attempt = 0; ; attempt++)
        {
            using (var read = db.CreateCommand())
            {
                read.CommandText = "SELECT value FROM settings WHERE key=$k";
                read.Parameters.AddWithValue("$k", StateKeys.FastHashKey);
                if (read.ExecuteScalar() is string stored && TryDecodeKey(stored) is { } key)
                {
                    return key;
                }
            }

            using var write = db.CreateCommand();
            write.CommandText = attempt == 0
                ? "INSERT OR IGNORE INTO settings(key, value) VALUES($k, $v)"
                : "INSERT OR REPLACE INTO settings(key, value) VALUES($k, $v)";
            write.Parameters.AddWithValue("$k", StateKeys.FastHashKey);
            write.Parameters.AddWithValue("$v", Convert.ToBase64String(ChunkFastHash.NewKey()));
            write.ExecuteNonQuery();
        }
    }

    private static byte[]? TryDecodeKey(string stored)
    {
        var key = new byte[ChunkFastHash.KeySize];
        return Convert.TryFromBase64String(stored, key, out var written) && written == key.Length ? key : null;
    }

    /// <summary>
    /// Each synced file's chunk fast hashes (<see cref="FastHashList"/>), <c>fast_hashes</c>: NULL for none, which is
    /// what every row of a db from before it reads as (its files are hashed in full on their next read, and recorded
    /// with the list from then on).
    /// </summary>
    private static void AddFastHashesColumn(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('files') WHERE name='fast_hashes'";
        if ((long)cmd.ExecuteScalar()! == 0)
        {
            Exec(db, "ALTER TABLE files ADD COLUMN fast_hashes BLOB;");
        }
    }

    public static void Exec(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
