using System.Diagnostics;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Synced files renamed to a name no path reaches (decomposed Unicode on a file system that tells the forms apart), and
/// names that are not valid UTF-8 beside a name that really holds U+FFFD: nothing is deleted on the server or renamed
/// for them (the findings of the review of the scanner's NFD and UTF-8 handling).
/// </summary>
public sealed class UnnamableNameTests : IDisposable
{
    private const string Composed = "R\u00e9sum\u00e9s";
    private const string Decomposed = "Re\u0301sume\u0301s";
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_synced_folder_renamed_to_a_decomposed_name_keeps_its_files_on_the_server_and_the_other_device()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < 8; i++)
        {
            a.Write($"Photos/p{i}.txt", "photo" + i);
        }

        for (var i = 0; i < 12; i++)
        {
            a.Write($"other{i}.txt", "o" + i); // 8 of 20: under the mass-delete guard's share, so nothing would ask
        }

        await a.SyncAsync();
        await b.SyncAsync();
        Directory.Move(a.PathOf("Photos"), Path.Combine(a.Folder, Decomposed));

        var held = await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal(0, held.FilesDeleted);
        Assert.All(Enumerable.Range(0, 8), i => Assert.NotNull(_server.Current($"Photos/p{i}.txt")));
        Assert.All(Enumerable.Range(0, 8), i => Assert.Equal("photo" + i, b.Read($"Photos/p{i}.txt")));
        Assert.Contains(held.Notes, n => n.Contains("Photos/p0.txt", StringComparison.Ordinal) && n.Contains("not deleted on the server until that name is renamed", StringComparison.Ordinal));

        // Renamed as the note says (typed again: composed), it syncs as a move: the old path goes, the new one comes.
        Directory.Move(Path.Combine(a.Folder, Decomposed), a.PathOf(Composed));
        var renamed = await a.SyncAsync();
        await b.SyncAsync();
        Assert.Equal(0, renamed.Errors);
        Assert.All(Enumerable.Range(0, 8), i =>
        {
            Assert.Null(_server.Current($"Photos/p{i}.txt"));
            Assert.Equal("photo" + i, b.Read($"{Composed}/p{i}.txt"));
        });
        Assert.False(Directory.Exists(b.PathOf("Photos")));
    }

    [Fact]
    public async Task A_synced_file_renamed_to_a_decomposed_name_is_not_deleted_on_the_server()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("report.txt", "the report");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        File.Move(a.PathOf("report.txt"), Path.Combine(a.Folder, "re\u0301sume\u0301.txt"));

        var first = await a.SyncAsync();
        var second = await a.SyncAsync();

        Assert.Equal(0, first.FilesDeleted + second.FilesDeleted);
        Assert.NotNull(_server.Current("report.txt"));
        Assert.Equal(0, second.Pending);
    }

    [Fact]
    public async Task A_synced_file_deleted_beside_an_unrelated_decomposed_name_is_still_deleted_on_the_server()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("report.txt", "the report");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        File.WriteAllText(Path.Combine(a.Folder, "re\u0301sume\u0301.txt"), "another file, another size");
        File.Delete(a.PathOf("report.txt"));

        var pass = await a.SyncAsync();

        Assert.Equal(1, pass.FilesDeleted);
        Assert.Null(_server.Current("report.txt"));
    }

    [Fact]
    public async Task A_name_not_valid_UTF8_beside_a_synced_name_with_a_real_replacement_character_leaves_the_synced_file_alone()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var valid = "caf\uFFFD.txt";
        a.Write(valid, "valid name, synced");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        await b.SyncAsync();
        await ShAsync(a.Folder, "printf 'latin-1 name, other bytes entirely' > \"$(printf 'caf\\351.txt')\"");
        Assert.Equal(2, Directory.GetFiles(a.Folder).Count(f => f.Contains('\uFFFD', StringComparison.Ordinal)));

        var passes = new List<SyncSummary>();
        for (var i = 0; i < 3; i++)
        {
            passes.Add(await a.SyncAsync());
        }

        Assert.Equal("valid name, synced", a.Read(valid));
        Assert.Single(_server.History(valid));
        Assert.All(passes, p => Assert.Equal(0, p.Pending + p.Errors + p.Conflicts));
        Assert.DoesNotContain(Directory.GetFiles(a.Folder), f => f.Contains("Case Conflict", StringComparison.Ordinal));
        Assert.Contains(passes[0].Notes, n => n.Contains("not valid UTF-8", StringComparison.Ordinal));

        // Still synced under its path: an edit there goes up.
        a.Write(valid, "edited");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.Equal("edited", b.Read(valid));
    }

    [Fact]
    public async Task A_name_with_a_real_replacement_character_made_beside_a_name_not_valid_UTF8_is_uploaded()
    {
        using var a = new TestClient(_dir, "a", _server);
        await ShAsync(a.Folder, "printf 'latin-1 name' > \"$(printf 'caf\\351.txt')\"");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        a.Write("caf\uFFFD.txt", "valid, new");

        var passes = new List<SyncSummary>();
        for (var i = 0; i < 3; i++)
        {
            passes.Add(await a.SyncAsync());
        }

        Assert.Equal((ulong)"valid, new".Length, _server.Current("caf\uFFFD.txt")?.Size);
        Assert.All(passes, p => Assert.Equal(0, p.Pending + p.Errors + p.Conflicts));
        Assert.DoesNotContain(Directory.GetFiles(a.Folder), f => f.Contains("Case Conflict", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_folder_not_valid_UTF8_beside_a_synced_folder_with_a_real_replacement_character_renames_nothing()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < 3; i++)
        {
            a.Write($"data\uFFFD/f{i}.txt", "f" + i);
        }

        a.Write("keep.txt", "k");
        await a.SyncAsync();
        await b.SyncAsync();
        await ShAsync(a.Folder, "mkdir \"$(printf 'data\\377')\" && printf 'other' > \"$(printf 'data\\377')/z.txt\"");

        for (var i = 0; i < 3; i++)
        {
            var pass = await a.SyncAsync();
            Assert.Equal(0, pass.Errors + pass.Conflicts + pass.FilesDeleted);
        }

        await b.SyncAsync();
        Assert.All(Enumerable.Range(0, 3), i => Assert.NotNull(_server.Current($"data\uFFFD/f{i}.txt")));
        Assert.DoesNotContain(Directory.GetDirectories(a.Folder).Concat(Directory.GetDirectories(b.Folder)), d => d.Contains("Case Conflict", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_folder_deleted_on_another_device_is_not_made_again_for_a_decomposed_name_left_in_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("dir/x.txt", "x");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write("dir/nin\u0303o.txt", "from a Mac");
        await a.SyncAsync();
        Directory.Delete(b.PathOf("dir"), recursive: true);
        await b.SyncAsync();

        await a.SyncAsync(); // x.txt deleted here; dir kept, it holds the withheld file
        await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal("from a Mac", File.ReadAllText(Path.Combine(a.Folder, "dir", "nin\u0303o.txt")));
        Assert.False(File.Exists(a.PathOf("dir/x.txt")));
        Assert.Null(_server.Current("dir"));
        Assert.False(Directory.Exists(b.PathOf("dir")));
    }

    [Fact]
    public async Task A_file_not_valid_UTF8_read_as_the_name_of_a_synced_folder_leaves_nothing_pending_and_nothing_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        for (var i = 0; i < 3; i++)
        {
            a.Write($"data\uFFFD/f{i}.txt", "f" + i);
        }

        a.Write("keep.txt", "k");
        await a.SyncAsync();
        // A file whose name's bytes are not UTF-8 decodes to the synced folder's name: a file and a folder read as one path.
        await ShAsync(a.Folder, "printf 'x' > \"$(printf 'data\\377')\"");

        for (var i = 0; i < 3; i++)
        {
            var pass = await a.SyncAsync();
            Assert.Equal(0, pass.Pending + pass.Errors + pass.Conflicts + pass.FilesDeleted + pass.FilesUploaded);
            Assert.Contains(pass.Notes, n => n.Contains("a file and a folder", StringComparison.Ordinal));
        }

        Assert.All(Enumerable.Range(0, 3), i => Assert.NotNull(_server.Current($"data\uFFFD/f{i}.txt")));
        Assert.Equal("f0", a.Read("data\uFFFD/f0.txt"));
    }

    [Fact]
    public async Task A_decomposed_link_to_a_folder_outside_is_not_walked_and_holds_no_real_delete()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("report.txt", "the report");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        var outside = _dir.Sub("outside");
        Directory.CreateDirectory(outside);
        File.Copy(a.PathOf("report.txt"), Path.Combine(outside, "copy.txt"));
        File.SetLastWriteTimeUtc(Path.Combine(outside, "copy.txt"), File.GetLastWriteTimeUtc(a.PathOf("report.txt"))); // as cp -p keeps it
        Directory.CreateSymbolicLink(Path.Combine(a.Folder, "Lie\u0301ns"), outside);
        File.Delete(a.PathOf("report.txt"));

        var pass = await a.SyncAsync();

        Assert.Equal(1, pass.FilesDeleted);
        Assert.Null(_server.Current("report.txt"));
    }

    [Fact]
    public void A_plan_input_copied_with_another_snapshot_finds_its_held_folders_again()
    {
        var bases = new Dictionary<string, FileRecord>(StringComparer.Ordinal)
        {
            ["Photos"] = new("Photos", FileKind.Folder, 0, 0, 1, []),
            ["Photos/p.txt"] = new("Photos/p.txt", FileKind.File, 5, 1234, 2, new byte[32]),
        };
        var nothing = new LocalSnapshot();
        nothing.Unnamable.Add(new FileStamp(9, 9));
        var renamed = new LocalSnapshot();
        renamed.Unnamable.Add(new FileStamp(5, 1234));
        var input = new PlanInput { Base = bases, Local = nothing, Fingerprints = new Dictionary<string, FileFingerprint>(), Remote = new Dictionary<string, RemoteEntry>() };
        Assert.Contains(SyncPlanner.Plan(input), a => a.Kind == SyncActionKind.DeleteRemoteFolder);

        var plan = SyncPlanner.Plan(input with { Local = renamed });

        Assert.DoesNotContain(plan, a => a.Kind is SyncActionKind.DeleteRemoteFolder or SyncActionKind.DeleteRemote);
    }

    private static async Task ShAsync(string folder, string script)
    {
        using var p = Process.Start(new ProcessStartInfo("sh", ["-c", script]) { WorkingDirectory = folder })!;
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
    }
}
