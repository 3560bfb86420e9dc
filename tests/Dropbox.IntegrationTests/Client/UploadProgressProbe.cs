using System.Diagnostics;
using Microsoft.Data.Sqlite;

namespace Dropbox.IntegrationTests.Client;

/// <summary>Reads a running client's upload progress from its state db (read-only, polling).</summary>
internal static class UploadProgressProbe
{
    /// <summary>
    /// Waits until an upload in progress has at least <paramref name="atLeast"/> chunks stored, and returns how many;
    /// fails with <paramref name="exitedMessage"/> if the client exits first. <paramref name="eachPoll"/> may assert more.
    /// </summary>
    public static async Task<long> WaitForChunksAsync(string stateDir, int atLeast, ChildProcess process, TimeSpan timeout, string exitedMessage, Action? eachPoll = null)
    {
        var db = Path.Combine(stateDir, "client.db");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            Assert.False(process.HasExited, exitedMessage + "\n" + process.Stdout + process.Stderr);
            eachPoll?.Invoke();
            if (File.Exists(db))
            {
                try
                {
                    using var conn = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=false");
                    conn.Open();
                    using var cmd = conn.CreateCommand();
                    cmd.CommandText = "SELECT COALESCE(MAX(chunks_done),0) FROM uploads";
                    var done = Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
                    if (done >= atLeast)
                    {
                        return done;
                    }
                }
                catch (SqliteException)
                {
                    // Busy or not created yet: poll again.
                }
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("The upload never reached " + atLeast + " chunks.\n" + process.Stdout + process.Stderr);
    }
}
