using System.Reflection;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A batch download where statx cannot be used (an old C library, a container filter; the client supports it, the
/// ctime is then unknown): the held folders' identity cannot be read, so the no-follow walk before the record is the
/// check, as the path route's was. The flag is process-wide: this collection runs with nothing else in parallel.
/// </summary>
[Collection(WithoutStatxCollection.Name)]
public sealed class BatchWithoutStatxTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static readonly FieldInfo Unavailable = typeof(FileChangeTime).GetField("_unavailable", BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>A batch's files in a sub folder are recorded (they were placed but never recorded: the identity check threw).</summary>
    [Fact]
    public async Task Without_statx_files_in_a_sub_folder_are_still_recorded()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        using (var a = new TestClient(_dir, "a", _server))
        {
            a.Write("docs/one.txt", "one");
            a.Write("four.txt", "four");
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            using var b = new TestClient(_dir, "b", _server);
            var summary = new SyncSummary();
            using var gets = new SemaphoreSlim(4);
            var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
            _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync([("docs/one.txt", 3), ("four.txt", 4)], CancellationToken.None);
            Assert.NotNull(b.State.GetFile("four.txt"));
            Assert.True(b.State.GetFile("docs/one.txt") is not null, $"docs/one.txt placed ('{b.Read("docs/one.txt")}') but not recorded; errors: {string.Join(" | ", summary.ErrorMessages)}");
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }

    /// <summary>
    /// The consequence over whole passes: b's download left unrecorded (no statx), then device a deletes the file before
    /// b's next pass: b uploads it back (a local file never synced) and the delete is undone.
    /// </summary>
    [Fact]
    public async Task Without_statx_a_delete_on_another_device_is_not_undone()
    {
        if (!FolderHandle.Supported)
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/one.txt", "one");
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            using var b = new TestClient(_dir, "b", _server);
            var first = await b.SyncAsync();
            File.Delete(a.PathOf("docs/one.txt"));
            Unavailable.SetValue(null, was); // device a: statx as usual
            var notes = new List<string>();
            for (var i = 0; i < 4 && _server.Current("docs/one.txt") is not null; i++)
            {
                var pass = await a.SyncAsync();
                notes.Add($"a pass {i}: errors {pass.Errors} {string.Join(" | ", pass.ErrorMessages)}");
            }

            Assert.True(_server.Current("docs/one.txt") is null, "a's delete did not reach the server: " + string.Join("; ", notes));
            Unavailable.SetValue(null, true);
            var second = await b.SyncAsync();
            Assert.True(
                _server.Current("docs/one.txt") is null,
                $"a's delete of docs/one.txt was undone by b (first pass errors: {first.Errors}: {string.Join(" | ", first.ErrorMessages)}; second pass uploaded it back)");
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }

    [Fact]
    public async Task With_statx_the_delete_stays()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/one.txt", "one");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        using var b = new TestClient(_dir, "b", _server);
        var first = await b.SyncAsync();
        Assert.Equal(0, first.Errors);
        File.Delete(a.PathOf("docs/one.txt"));
        await a.SyncAsync();
        Assert.Null(_server.Current("docs/one.txt"));
        await b.SyncAsync();
        Assert.Null(_server.Current("docs/one.txt"));
        Assert.False(File.Exists(b.PathOf("docs/one.txt")));
    }
}

/// <summary>Tests that turn statx off for the whole process; xunit runs this collection with nothing else in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WithoutStatxCollection
{
    public const string Name = "Without statx";
}
