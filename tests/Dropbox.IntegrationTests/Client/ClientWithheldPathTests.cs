namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// <c>sync --once</c> as real processes against a real metadata node and storage node: a remote change to a path
/// withheld here (the losing name of a case clash still being written, a folder that is a symbolic link) is applied once the obstacle is gone, although the cursor moved on;
/// many remembered deletes are judged together by the mass-delete guard.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClientWithheldPathTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_change_skipped_while_its_path_clashed_here_is_applied_once_the_clash_is_gone()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        // The server kept an older, deleted 'd1/x.txt' (restored below) and holds 'd1/X.txt'.
        a.Write("d1/x.txt", "A's old x");
        await a.SyncAsync();
        File.Delete(a.PathOf("d1/x.txt"));
        await a.SyncAsync();
        a.Write("d1/X.txt", "A's X");
        await a.SyncAsync();
        await b.SyncAsync();

        // B writes a name that differs only in case beside the synced one. Still being written, it is not renamed to
        // a (Case Conflict) name yet: the path stays withheld here.
        b.Write("d1/x.txt", "B's own x");
        await b.SyncAsync(true, "--stable-age", "1h");
        Assert.Equal("B's own x", b.Read("d1/x.txt"));

        // A brings back the server's 'd1/x.txt' (a restore is made on the server: nothing of A's folder clashes first),
        // so the server holds both names, the synced 'd1/X.txt' first. B's next pass must skip the change to its
        // withheld path while the cursor moves past it, so B remembers the path.
        var restored = await a.RunAsync("restore", "d1/x.txt");
        Assert.True(restored.ExitCode == 0, $"restore failed: {restored}");
        var skipped = await b.SyncAsync(true, "--stable-age", "1h");
        Assert.True(skipped.Skipped >= 1, $"B's pass skipped nothing: {skipped}");
        Assert.Contains("d1/x.txt", Withheld(b));

        // B's file settles: it is renamed to a (Case Conflict) name, and the remembered change is applied by that pass
        // itself (asserted before A syncs again: A's own pass resolves the restored clash on the server too, whose change
        // would bring the content to B even if the remembered one were dropped).
        File.SetLastWriteTimeUtc(b.PathOf("d1/x.txt"), DateTime.UtcNow.AddHours(-2));
        await b.SyncAsync();
        Assert.Contains("A's old x", Files(b).Values);
        await a.SyncAsync();
        await b.SyncAsync();
        await a.SyncAsync();

        var filesA = Files(a);
        var filesB = Files(b);
        Assert.Equal(filesA, filesB);
        Assert.Contains("A's X", filesB.Values);
        Assert.Contains("A's old x", filesB.Values);
        Assert.Contains("B's own x", filesA.Values);
        Assert.Empty(Withheld(b));
    }

    /// <summary>
    /// A synced file that loses a case clash only because another device renamed it on the server to the clashing name
    /// (here 'X.txt' to 'x.txt', while this device writes a new 'x.txt') follows the server: it is deleted here, not
    /// renamed to a (Case Conflict) name and uploaded again, and the other device's rename keeps its name.
    /// </summary>
    [Fact]
    public async Task A_synced_file_renamed_elsewhere_to_a_name_new_here_follows_the_rename_and_is_not_uploaded_again()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        a.Write("d1/X.txt", "A's X");
        await a.SyncAsync();
        await b.SyncAsync();

        b.Write("d1/x.txt", "B's own x");
        File.SetLastWriteTimeUtc(b.PathOf("d1/x.txt"), DateTime.UtcNow.AddHours(-2)); // settled: this pass is about X.txt
        File.Move(a.PathOf("d1/X.txt"), a.PathOf("d1/x.txt"));
        File.AppendAllText(a.PathOf("d1/x.txt"), ", renamed to x by A");
        await a.SyncAsync();
        // The stable age makes B's 'X.txt' (downloaded with A's mtime, seconds old) young: it must not count as written.
        await b.SyncAsync(true, "--stable-age", "1h");
        for (var i = 0; i < 2; i++)
        {
            await a.SyncAsync();
            await b.SyncAsync();
        }

        var filesA = Files(a);
        var filesB = Files(b);
        Assert.Equal(filesA, filesB);
        Assert.True(filesB.GetValueOrDefault("d1/x.txt") == "A's X, renamed to x by A",
            $"A's rename lost its name; B holds: {string.Join("; ", filesB.Select(f => $"{f.Key} = {f.Value}"))}");
        Assert.Contains("B's own x", filesA.Values);
        Assert.DoesNotContain("A's X", filesB.Values);
        Assert.Empty(Withheld(b));
    }

    /// <summary>
    /// 300 synced files under a folder withheld here (a symbolic link in its place: root, as CI runs, reads a chmod 000
    /// folder anyway), all deleted on the server meanwhile: once the folder is back, the next run is stopped by the
    /// mass-delete guard with nothing deleted (the remembered deletes, more than one pass looks up one by one, are
    /// answered by one listing of their folder on the real metadata node, and judged together), and with
    /// <c>--allow-mass-delete</c> they are all applied.
    /// </summary>
    [Fact]
    public async Task Remote_deletes_remembered_while_a_folder_was_withheld_are_stopped_together_by_the_mass_delete_guard()
    {
        const int files = 300;
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        for (var i = 0; i < files; i++)
        {
            a.Write($"big/f{i:000}.txt", $"file {i}");
        }

        a.Write("other.txt", "stays");
        await a.SyncAsync();
        await b.SyncAsync();

        var elsewhere = Path.Combine(_dir.CreateSub("elsewhere"), "big");
        Directory.Move(b.PathOf("big"), elsewhere);
        Directory.CreateSymbolicLink(b.PathOf("big"), elsewhere);
        Directory.Delete(a.PathOf("big"), recursive: true);
        Assert.Equal(files, (await a.SyncAsync(true, "--allow-mass-delete")).FilesDeleted);
        await b.SyncAsync(); // skipped: withheld; the cursor moves past the deletes
        Assert.True(Withheld(b).Count >= files);

        Directory.Delete(b.PathOf("big"));
        Directory.Move(elsewhere, b.PathOf("big"));
        var stopped = await b.RunAsync("sync", "--once", "--json");
        var left = Directory.GetFiles(b.PathOf("big")).Length;
        Assert.True(left == files, $"the run after the folder came back deleted {files - left} of its {files} files without confirmation: {stopped}");
        Assert.True(stopped.ExitCode == 3, stopped.ToString());
        Assert.Contains($"would delete {files} of {files + 1} synced files", stopped.Stderr, StringComparison.Ordinal);

        var allowed = await b.SyncAsync(true, "--allow-mass-delete");
        Assert.Equal(files, allowed.FilesDeleted);
        Assert.False(Directory.Exists(b.PathOf("big")));
        Assert.Equal("stays", b.Read("other.txt"));
        Assert.Empty(Withheld(b));
    }

    private static SortedDictionary<string, string> Files(ClientProcess client) =>
        new(Directory.EnumerateFiles(client.Folder, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith(".dropbox", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(client.Folder, f), File.ReadAllText), StringComparer.Ordinal);

    /// <summary>The paths the client remembers as withheld (its db's <c>withheld</c> table).</summary>
    private static List<string> Withheld(ClientProcess client)
    {
        using var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(client.State, "client.db")};Mode=ReadOnly;Pooling=false");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT path FROM withheld";
        using var reader = cmd.ExecuteReader();
        var paths = new List<string>();
        while (reader.Read())
        {
            paths.Add(reader.GetString(0));
        }

        return paths;
    }

    [Fact]
    public async Task A_remote_delete_skipped_while_its_folder_was_a_symbolic_link_here_applies_once_the_folder_is_back()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        a.Write("d/f.txt", "old content");
        a.Write("other.txt", "x");
        await a.SyncAsync();
        await b.SyncAsync();
        // B moves the folder elsewhere and leaves a link in its place: withheld, nothing under it syncs meanwhile.
        var elsewhere = Path.Combine(_dir.CreateSub("elsewhere"), "d");
        Directory.Move(b.PathOf("d"), elsewhere);
        Directory.CreateSymbolicLink(b.PathOf("d"), elsewhere);
        File.Delete(a.PathOf("d/f.txt"));
        await a.SyncAsync();
        await b.SyncAsync(); // skipped: withheld; the cursor moves past the delete

        Directory.Delete(b.PathOf("d"));
        Directory.Move(elsewhere, b.PathOf("d"));
        a.Write("other.txt", "a later change");
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.False(File.Exists(b.PathOf("d/f.txt")), "B keeps 'd/f.txt', which A deleted");
        Assert.Equal("a later change", b.Read("other.txt"));
        Assert.DoesNotContain(await cluster.NewClientListAsync(a), l => l.EndsWith(" d/f.txt", StringComparison.Ordinal));
    }
}
