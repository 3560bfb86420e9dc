using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The <c>uploads</c> rows of the local db (<see cref="LocalState.Uploads"/>): each upload started and not yet finished,
/// with how many of its chunks were sent (resume bookkeeping, shown by <c>status</c>; the server's plan is the
/// authority). On the db's one connection, under its lock.
/// </summary>
internal sealed class UploadProgressStore
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate;

    internal UploadProgressStore(SqliteConnection db, Lock gate)
    {
        _db = db;
        _gate = gate;
    }

    /// <summary>Notes an upload in progress (resume bookkeeping; the server's plan is the authority).</summary>
    public void Begin(string path, long size, long mtimeTicks, int chunksTotal)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                INSERT INTO uploads(path,size,mtime,chunks_total,chunks_done,started) VALUES($p,$s,$m,$t,0,$now)
                ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime, chunks_total=excluded.chunks_total
                """;
            cmd.Parameters.AddWithValue("$p", path);
            cmd.Parameters.AddWithValue("$s", size);
            cmd.Parameters.AddWithValue("$m", mtimeTicks);
            cmd.Parameters.AddWithValue("$t", chunksTotal);
            cmd.Parameters.AddWithValue("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>Adds to the count of chunks an upload has sent.</summary>
    public void AddProgress(string path, int chunks)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "UPDATE uploads SET chunks_done=chunks_done+$n WHERE path=$p";
            cmd.Parameters.AddWithValue("$p", path);
            cmd.Parameters.AddWithValue("$n", chunks);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>Removes the upload bookkeeping for a path.</summary>
    public void End(string path)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "DELETE FROM uploads WHERE path=$p";
            cmd.Parameters.AddWithValue("$p", path);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>Uploads that were started and never finished: (path, chunks total, chunks done).</summary>
    public List<(string Path, int Total, int Done)> Pending()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT path, chunks_total, chunks_done FROM uploads ORDER BY path";
            using var reader = cmd.ExecuteReader();
            var result = new List<(string, int, int)>();
            while (reader.Read())
            {
                result.Add((reader.GetString(0), reader.GetInt32(1), reader.GetInt32(2)));
            }

            return result;
        }
    }

}
