using Dropbox.SyncClient.Local;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.State;

/// <summary>
/// A remembered ignore file: the hex SHA-256 of its bytes (what the <see cref="StateKeys.IgnoreFiles"/> setting names),
/// its rule lines (those that compile, joined by '\n'; null: not held, past the bound of what is remembered), and the
/// stamp of the file read (null: unknown, no statx), which tells whether an unreadable file now is that very file.
/// </summary>
internal readonly record struct RememberedRules(string Hash, string? Rules, IgnoreFileStamp? Stamp);

/// <summary>
/// The <c>ignore_rules</c> rows of the local db (<see cref="LocalState.IgnoreRules"/>): the rule lines of each
/// <c>.dropboxignore</c> the last pass that set its cursor remembered (see Sync.IgnoreFileMemory), by folder, with the hash
/// of its bytes and the stamp of the file read, so a pass that cannot read one applies the rules it held then (whole only
/// to the very file read). Saved with the <see cref="StateKeys.IgnoreFiles"/> setting in one transaction; a row counts
/// only where that setting still names its hash (a build from before the table rewrites the setting and leaves the rows
/// as they were). On the db's one connection, under its lock.
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

    /// <summary>The remembered ignore file of <paramref name="folder"/> ("" for the top), null when none is kept.</summary>
    public RememberedRules? Get(string folder)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT hash, rules, device, inode, size, mtime FROM ignore_rules WHERE folder=$f";
            cmd.Parameters.AddWithValue("$f", folder);
            using var reader = cmd.ExecuteReader();
            return reader.Read() ? Row(reader, 0) : null;
        }
    }

    /// <summary>
    /// Sets the <see cref="StateKeys.IgnoreFiles"/> setting to <paramref name="described"/> and the rows to
    /// <paramref name="files"/>, in one transaction. A row kept as it is is not written again (most passes change nothing
    /// here); the rows of other folders go.
    /// </summary>
    public void Set(string described, IReadOnlyCollection<(string Folder, RememberedRules Row)> files)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            var kept = new Dictionary<string, RememberedRules>(StringComparer.Ordinal);
            using (var read = _db.CreateCommand())
            {
                read.Transaction = tx;
                read.CommandText = "SELECT folder, hash, rules, device, inode, size, mtime FROM ignore_rules";
                using var reader = read.ExecuteReader();
                while (reader.Read())
                {
                    kept[reader.GetString(0)] = Row(reader, 1);
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
            foreach (var (folder, row) in files)
            {
                wanted.Add(folder);
                if (kept.TryGetValue(folder, out var old) && old == row)
                {
                    continue;
                }

                using var put = _db.CreateCommand();
                put.Transaction = tx;
                put.CommandText = "INSERT INTO ignore_rules(folder,hash,rules,device,inode,size,mtime) VALUES($f,$h,$r,$d,$i,$s,$m) "
                    + "ON CONFLICT(folder) DO UPDATE SET hash=excluded.hash, rules=excluded.rules, device=excluded.device, inode=excluded.inode, size=excluded.size, mtime=excluded.mtime";
                put.Parameters.AddWithValue("$f", folder);
                put.Parameters.AddWithValue("$h", row.Hash);
                put.Parameters.AddWithValue("$r", row.Rules ?? string.Empty);
                put.Parameters.AddWithValue("$d", row.Stamp is { } sd ? unchecked((long)sd.Device) : DBNull.Value);
                put.Parameters.AddWithValue("$i", row.Stamp is { } si ? unchecked((long)si.Inode) : DBNull.Value);
                put.Parameters.AddWithValue("$s", row.Stamp is { } ss ? ss.Size : DBNull.Value);
                put.Parameters.AddWithValue("$m", row.Stamp is { } sm ? sm.MtimeTicks : DBNull.Value);
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

    /// <summary>A row from <paramref name="at"/> on: hash, rules, device, inode, size, mtime (the stamp null where any part is).</summary>
    private static RememberedRules Row(SqliteDataReader reader, int at) =>
        new(reader.GetString(at), reader.GetString(at + 1),
            reader.IsDBNull(at + 2) || reader.IsDBNull(at + 3) || reader.IsDBNull(at + 4) || reader.IsDBNull(at + 5) ? null
                : new IgnoreFileStamp(unchecked((ulong)reader.GetInt64(at + 2)), unchecked((ulong)reader.GetInt64(at + 3)), reader.GetInt64(at + 4), reader.GetInt64(at + 5)));
}
