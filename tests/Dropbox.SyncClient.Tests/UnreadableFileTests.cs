using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;
using static Dropbox.SyncClient.Tests.ChangeTimeTests;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A synced file the client cannot read (a <c>chmod 000</c>, an I/O error) whose content a pass needs (its ctime, size or
/// mtime moved) is one file's outcome, not the pass's: it is left as it is on both sides (never uploaded, deleted or
/// downloaded over), said once in the notes with the system's reason, read again after the engine's backoff, and every
/// other file syncs. Real files, the real engine, a <see cref="FakeServer"/>. Root reads every file whatever its mode
/// (the tests run as root in CI), so the refusal comes from a chunk source that refuses the file's stream as the
/// kernel refuses the open; <see cref="A_real_chmod_000_leaves_the_file_alone_and_the_other_files_sync"/> makes a
/// real one where the process can be refused.
/// </summary>
public sealed class UnreadableFileTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();
    private readonly HashSet<string> _denied = new(StringComparer.Ordinal);

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)] // only the chmod: the ctime moved, size and mtime as synced
    [InlineData(true)] // edited first (another size, a new mtime): what a build without the ctime meets too
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_synced_file_that_cannot_be_read_is_left_as_it_is_said_once_and_every_other_file_syncs(bool editedFirst)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx
        }

        using var a = Client("a");
        WriteSettled(a, "secret.txt", "synced bytes");
        WriteSettled(a, "other.txt", "other");
        Assert.Equal(2, (await a.SyncAsync()).FilesUploaded);
        var synced = _server.History("secret.txt").Count;

        if (editedFirst)
        {
            a.Write("secret.txt", "edited here, not yet synced");
            File.SetLastWriteTimeUtc(a.PathOf("secret.txt"), OldMtime.AddHours(1));
        }

        Deny(a, "secret.txt");
        a.Write("new.txt", "a new file that uploads");
        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, pass.FilesUploaded); // new.txt
        Assert.Equal(1, pass.Unreadable);
        Assert.Equal(synced, _server.History("secret.txt").Count);
        var note = Assert.Single(pass.Notes, n => n.Contains("secret.txt", StringComparison.Ordinal));
        Assert.StartsWith("'secret.txt' could not be read (Access to the path", note, StringComparison.Ordinal);
        Assert.Contains("tried again in 30s", note, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(30), pass.RecheckAfter);
        Assert.Contains("could not be read", pass.ToString(), StringComparison.Ordinal);

        // Readable again: read, and its bytes decide (the same ones: nothing sent; an edit: uploaded).
        Allow(a, "secret.txt");
        var after = await a.SyncAsync();
        Assert.Equal(0, after.Errors + after.Unreadable);
        Assert.Equal(editedFirst ? 1 : 0, after.FilesUploaded);
        Assert.Equal(editedFirst ? synced + 1 : synced, _server.History("secret.txt").Count);
        Assert.Equal(0, (await a.SyncAsync()).Unreadable);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_remote_edit_to_a_file_that_cannot_be_read_waits_and_becomes_a_conflict_once_it_can_be()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx
        }

        using var a = Client("a");
        using var b = Client("b");
        WriteSettled(a, "f.txt", "shared text");
        await a.SyncAsync();
        await b.SyncAsync();

        // A's edit (size kept, mtime put back), then its permission taken away; B's edit reaches the server.
        const string mine = "SHARED TEXT";
        RewriteInPlaceKeepingMtime(a, "f.txt", mine);
        Deny(a, "f.txt");
        var denied = Identity(a.PathOf("f.txt")); // the test may not read it either where the refusal is the kernel's
        b.Write("f.txt", "edited on b, longer");
        Assert.Equal(1, (await b.SyncAsync()).FilesUploaded);

        var pass = await a.SyncAsync();
        Assert.Equal(0, pass.Errors + pass.FilesDownloaded + pass.Conflicts);
        Assert.Equal(denied, Identity(a.PathOf("f.txt"))); // never downloaded over, never written
        Assert.Single(TestClient.FilesIn(a.Folder));
        Assert.Contains(pass.Notes, n => n.StartsWith("'f.txt' could not be read", StringComparison.Ordinal) && n.Contains("the remote change to it waits", StringComparison.Ordinal));
        Assert.Contains("f.txt", a.State.Withheld.Load()); // the cursor moved on: the change is remembered

        // Still unreadable on a pass that has nothing new from the feed: still left alone.
        var again = await a.SyncAsync();
        Assert.Equal(0, again.Errors + again.FilesDownloaded);
        Assert.Equal(denied, Identity(a.PathOf("f.txt")));
        Allow(a, "f.txt");
        Assert.Equal(mine, a.Read("f.txt"));

        await a.SyncAsync();
        await b.SyncAsync();
        foreach (var folder in new[] { a.Folder, b.Folder })
        {
            var contents = TestClient.FilesIn(folder).Select(File.ReadAllText).ToList();
            Assert.Contains(mine, contents);
            Assert.Contains("edited on b, longer", contents);
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_file_that_stays_unreadable_is_read_again_after_30_s_three_times_then_after_1_2_and_4_min()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx
        }

        using var a = Client("a");
        WriteSettled(a, "secret.txt", "synced bytes");
        await a.SyncAsync();
        Deny(a, "secret.txt");

        var waits = new List<TimeSpan?>();
        for (var i = 0; i < 6; i++)
        {
            var pass = await a.SyncAsync();
            Assert.Equal(1, pass.Unreadable);
            waits.Add(pass.RecheckAfter);
        }

        Assert.Equal([30, 30, 30, 60, 120, 240], waits.Select(w => w!.Value.TotalSeconds));

        // Read once: the backoff starts afresh the next time.
        Allow(a, "secret.txt");
        Assert.Equal(0, (await a.SyncAsync()).Unreadable);
        Deny(a, "secret.txt");
        Assert.Equal(TimeSpan.FromSeconds(30), (await a.SyncAsync()).RecheckAfter);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_real_chmod_000_leaves_the_file_alone_and_the_other_files_sync()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server);
        WriteSettled(a, "secret.txt", "synced bytes");
        await a.SyncAsync();
        File.SetUnixFileMode(a.PathOf("secret.txt"), UnixFileMode.None);
        try
        {
            if (CanOpen(a.PathOf("secret.txt")))
            {
                return; // root with CAP_DAC_OVERRIDE (CI) reads it anyway: the tests above stand in for the kernel
            }

            a.Write("new.txt", "a new file that uploads");
            var pass = await a.SyncAsync();
            Assert.Equal(0, pass.Errors);
            Assert.Equal(1, pass.FilesUploaded);
            Assert.Equal(1, pass.Unreadable);
            Assert.Single(pass.Notes, n => n.StartsWith("'secret.txt' could not be read", StringComparison.Ordinal));
        }
        finally
        {
            File.SetUnixFileMode(a.PathOf("secret.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var after = await a.SyncAsync();
        Assert.Equal(0, after.Errors + after.Unreadable + after.FilesUploaded);
    }

    private TestClient Client(string name) => new(_dir, name, _server, chunker: inner => new RefusingChunkSource(inner, _denied));

    /// <summary>Takes the file's permissions away (its ctime moves) and has its reads refused from now on.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private void Deny(TestClient client, string relative)
    {
        var full = client.PathOf(relative);
        MoveCtime(full, () => File.SetUnixFileMode(full, UnixFileMode.None)); // a chmod moves the ctime even to the mode it has
        lock (_denied)
        {
            _denied.Add(full);
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private void Allow(TestClient client, string relative)
    {
        var full = client.PathOf(relative);
        File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        lock (_denied)
        {
            _denied.Remove(full);
        }
    }

    /// <summary>The file's inode and ctime: the same pair means nothing replaced, wrote to or renamed it.</summary>
    private static (ulong?, long?) Identity(string full) => FileChangeTime.TryStat(full) is { } stat ? (stat.Inode, stat.CtimeNs) : (null, null);

    private static bool CanOpen(string full)
    {
        try
        {
            using var stream = File.OpenRead(full);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
