using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A local case-conflict rename that is not made (its new name taken right before it, by another program) holds every
/// step under its names for a pass; what the server changed there is not lost: a later pass applies it, and the folder
/// ends as the server holds it.
/// </summary>
public sealed class CaseConflictRenameNotMadeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_delete_at_a_name_whose_case_rename_is_not_made_is_applied_by_a_later_pass()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Notes.txt", "same");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();
        Assert.Equal("same", a.Read("Notes.txt"));

        // Another device deletes 'Notes.txt' and makes 'notes.txt'; here 'Notes.txt' is only touched (same bytes), so
        // the plan renames it aside and forgets the server's delete of its old name (its file is gone from there).
        File.Delete(b.PathOf("Notes.txt"));
        b.Write("notes.txt", "theirs");
        await b.SyncAsync();
        Assert.Null(_server.Current("Notes.txt"));
        File.SetLastWriteTimeUtc(a.PathOf("Notes.txt"), DateTime.UtcNow.AddHours(-3));
        TakeNewNameOnce(a, "Notes.txt");

        var first = await a.SyncAsync();
        Assert.Contains(first.Notes, n => n.Contains("could not rename 'Notes.txt'", StringComparison.Ordinal));
        a.State.Writer.Step = null;
        for (var i = 0; i < 4; i++)
        {
            await a.SyncAsync();
        }

        // The delete was kept for a later pass: 'Notes.txt' is not here while the server has none (nor the other way).
        Assert.True(File.Exists(a.PathOf("Notes.txt")) == (_server.Current("Notes.txt") is not null),
            $"the server's delete of 'Notes.txt' was lost when its case-conflict rename was not made: here={File.Exists(a.PathOf("Notes.txt"))}, on the server={_server.Current("Notes.txt") is not null}; {Differences(a)}");
        Assert.Equal(string.Empty, Differences(a));
    }

    /// <summary>Makes the new name of the first case-conflict rename of <paramref name="path"/> right before it (as another program would): the rename is not made.</summary>
    private static void TakeNewNameOnce(TestClient client, string path, bool folder = false)
    {
        var prefix = $"before case-conflict rename {path} -> ";
        var made = false;
        client.State.Writer.Step = step =>
        {
            if (!made && step.StartsWith(prefix, StringComparison.Ordinal))
            {
                made = true;
                var target = client.PathOf(step[prefix.Length..]);
                if (folder)
                {
                    Directory.CreateDirectory(target);
                }
                else
                {
                    File.WriteAllText(target, "another program's");
                }
            }
        };
    }

    /// <summary>The files that differ between <paramref name="client"/>'s folder and the server (by path and size), empty when none.</summary>
    private string Differences(TestClient client)
    {
        var here = Directory.GetFiles(client.Folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(client.Folder, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith('.'))
            .ToDictionary(f => f, f => new FileInfo(client.PathOf(f)).Length, StringComparer.Ordinal);
        var there = _server.LivePaths()
            .Select(p => p[..p.LastIndexOf('(')])
            .Where(p => _server.Current(p) is { Kind: EntryKind.File })
            .ToDictionary(p => p, p => (long)_server.Current(p)!.Size, StringComparer.Ordinal);
        var differ = here.Keys.Union(there.Keys).Where(p => !here.TryGetValue(p, out var h) || !there.TryGetValue(p, out var t) || h != t).Order(StringComparer.Ordinal).ToList();
        return differ.Count == 0 ? string.Empty
            : "differ: " + string.Join(", ", differ.Select(p => $"{p} (here {(here.TryGetValue(p, out var h) ? h : "-")}, server {(there.TryGetValue(p, out var t) ? t : "-")})"));
    }
}
