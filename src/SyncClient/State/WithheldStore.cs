using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The <c>withheld</c> rows of the local db (<see cref="LocalState.Withheld"/>): the paths whose remote change waits
/// until the path is no longer withheld here. On the db's one connection, under its lock.
/// </summary>
internal sealed class WithheldStore
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate;

    internal WithheldStore(SqliteConnection db, Lock gate)
    {
        _db = db;
        _gate = gate;
    }

    /// <summary>
    /// Paths with a remote change a pass could not apply because the path was withheld here (a case clash, an
    /// unreadable folder): the cursor moved past that change, so each pass looks at these paths' remote state again
    /// until the obstacle is gone and the change is applied.
    /// </summary>
    public HashSet<string> Load()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT path FROM withheld";
            using var reader = cmd.ExecuteReader();
            var paths = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read())
            {
                paths.Add(reader.GetString(0));
            }

            return paths;
        }
    }

    /// <summary>Replaces the set of withheld paths (see <see cref="Load"/>) in one transaction.</summary>
    public void Set(IReadOnlyCollection<string> paths)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            using (var clear = _db.CreateCommand())
            {
                clear.Transaction = tx;
                clear.CommandText = "DELETE FROM withheld";
                clear.ExecuteNonQuery();
            }

            using var insert = _db.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT OR IGNORE INTO withheld(path) VALUES($p)";
            var parameter = insert.Parameters.Add("$p", Microsoft.Data.Sqlite.SqliteType.Text);
            foreach (var path in paths)
            {
                parameter.Value = path;
                insert.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }
}
