using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The <c>ignore_rules</c> rows of the local db (<see cref="LocalState.IgnoreRules"/>): the bytes of each
/// <c>.dropboxignore</c> the last pass that set its cursor remembered (see Sync.IgnoreFileMemory), by folder, with their
/// hash (hex SHA-256) and the file's inode number (null: unknown), so a pass that cannot read one applies the rules it
/// held then (by folder only). Each is at most IgnoreFileRead.MaxBytes. Saved with the
/// <see cref="StateKeys.IgnoreFiles"/> setting in one transaction; a row counts only where that setting still names its
/// hash (a build from before the table rewrites the setting and leaves the rows as they were). On the db's one
/// connection, under its lock.
/// </summary>
internal sealed class IgnoreRulesStore
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate;

    internal IgnoreRulesStore(SqliteConnection db, Lock gate)
    {
        _db = db;
        _gate = gate;
    }

    /// <summary>The remembered ignore file of <paramref name="folder"/> ("" for the top): its hash and bytes, null when none is kept.</summary>
    public (string Hash, byte[] Content)? Get(string folder)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT hash, content FROM ignore_rules WHERE folder=$f";
            cmd.Parameters.AddWithValue("$f", folder);
            using var reader = cmd.ExecuteReader();
            return reader.Read() ? (reader.GetString(0), (byte[])reader.GetValue(1)) : null;
        }
    }

    /// <summary>
    /// Sets the <see cref="StateKeys.IgnoreFiles"/> setting to <paramref name="described"/> and the rows to
    /// <paramref name="files"/> (folder, hex hash of the content, content, the file's inode number where known), in one
    /// transaction. A row kept with the same hash and inode is not written again (most passes change nothing here); the
    /// rows of other folders go.
    /// </summary>
    public void Set(string described, IReadOnlyCollection<(string Folder, string Hash, byte[] Content, ulong? Inode)> files)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            var kept = new Dictionary<string, (string Hash, long? Inode)>(StringComparer.Ordinal);
            using (var read = _db.CreateCommand())
            {
                read.Transaction = tx;
                read.CommandText = "SELECT folder, hash, inode FROM ignore_rules";
                using var reader = read.ExecuteReader();
                while (reader.Read())
                {
                    kept[reader.GetString(0)] = (reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2));
                }
            }

            using (var setting = _db.CreateCommand())
            {
                setting.Transaction = tx;
                setting.CommandText = "INSERT INTO settings(key,value) VALUES($k,$v) ON CONFLICT(key) DO UPDATE SET value=excluded.value";
                setting.Parameters.AddWithValue("$k", StateKeys.IgnoreFiles);
                setting.Parameters.AddWithValue("$v", described);
                setting.ExecuteNonQuery();
            }

            var wanted = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (folder, hash, content, inode) in files)
            {
                wanted.Add(folder);
                long? stored = inode is { } i ? unchecked((long)i) : null;
                if (kept.TryGetValue(folder, out var old) && old == (hash, stored))
                {
                    continue;
                }

                using var put = _db.CreateCommand();
                put.Transaction = tx;
                put.CommandText = "INSERT INTO ignore_rules(folder,hash,content,inode) VALUES($f,$h,$c,$i) ON CONFLICT(folder) DO UPDATE SET hash=excluded.hash, content=excluded.content, inode=excluded.inode";
                put.Parameters.AddWithValue("$f", folder);
                put.Parameters.AddWithValue("$h", hash);
                put.Parameters.Add("$c", SqliteType.Blob).Value = content;
                put.Parameters.AddWithValue("$i", stored is { } v ? v : DBNull.Value);
                put.ExecuteNonQuery();
            }

            foreach (var folder in kept.Keys.Where(f => !wanted.Contains(f)))
            {
                using var remove = _db.CreateCommand();
                remove.Transaction = tx;
                remove.CommandText = "DELETE FROM ignore_rules WHERE folder=$f";
                remove.Parameters.AddWithValue("$f", folder);
                remove.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }
}
