using System.Reflection;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// FIFOs where statx cannot be used (not Linux, an old C library, a container filter): the framework's FileInfo calls a
/// FIFO a file of length 0, and opening one to read it blocks until a writer comes. The flag is process-wide: this runs
/// in the collection with nothing else in parallel.
/// </summary>
[Collection(WithoutStatxCollection.Name)]
public sealed class SpecialFileWithoutStatxTests : IDisposable
{
    private static readonly FieldInfo Unavailable = typeof(FileChangeTime).GetField("_unavailable", BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Without_statx_a_fifo_in_the_folder_is_skipped_and_the_pass_syncs_the_rest()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // mkfifo, and a FIFO opened for reading and writing at once does not block (to let a stuck pass go)
        }

        using var a = new TestClient(_dir, "a", _server);
        a.Write("ok.txt", "fine");
        var fifo = a.PathOf("pipe");
        await SpecialFileTests.MkFifoAsync(fifo);

        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        SyncSummary up;
        try
        {
            var pass = a.SyncAsync();
            if (await Task.WhenAny(pass, Task.Delay(TimeSpan.FromSeconds(30))) != pass)
            {
                // Blocked opening the FIFO to read it: a reader and writer at once lets that open return (the pass then
                // fails on a stream it cannot seek), so the test ends.
                File.OpenHandle(fifo, FileMode.Open, FileAccess.ReadWrite).Dispose();
                await Task.WhenAny(pass, Task.Delay(TimeSpan.FromSeconds(10)));
                _ = pass.Exception;
                Assert.Fail("the pass blocked opening the FIFO to read it");
            }

            up = await pass;
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }

        Assert.Equal(0, up.Errors);
        Assert.Equal(1, up.FilesUploaded);
        Assert.Contains(up.Notes, n => n.Contains("pipe", StringComparison.Ordinal) && n.Contains("not a regular file", StringComparison.Ordinal));
        Assert.Null(_server.Current("pipe"));
    }

    [Fact]
    public async Task Without_statx_a_fifo_at_the_name_size_and_mtime_of_a_synced_empty_file_is_not_a_case_clash_loser_as_synced()
    {
        // The scan skips a FIFO; one put in place of a losing empty file between the scan and the clash's resolve, with
        // its mtime, must not count as that file as synced (it would follow the server: deleted or moved here as the file).
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fifo = Path.Combine(_dir.CreateSub("folder"), "X.txt");
        await SpecialFileTests.MkFifoAsync(fifo);
        var mtime = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(fifo, mtime);
        var index = new Dictionary<string, BaseStat>(StringComparer.Ordinal) { ["X.txt"] = new(FileKind.File, 0, mtime.Ticks, 1) };

        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            Assert.False(CaseClashLoser.IsAsSynced(index, "X.txt", fifo, readsExecutableBit: false), "a FIFO taken for the synced empty file");
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }
}
