using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A local folder that loses a case clash and follows another device's move of it to its "(Case Conflict)" name, whose
/// rename here is not made (it fails, or waits): the move is remembered (<see cref="FollowedCaseMoves"/>), so the cursor
/// moves on, other remote changes come down, and once the rename can be made it follows the server's name.
/// </summary>
public sealed class CaseConflictFollowedNotMadeTests : IDisposable
{
    private const string Rename = "before case-conflict rename docs -> ";
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_followed_rename_that_fails_every_pass_lets_the_cursor_move_and_follows_once_it_can()
    {
        var (a, b) = await FollowedClashAsync();
        using (a)
        using (b)
        {
            // Every pass: the rename's new name is taken right before it (a failure that lasts), and let go after the pass.
            a.State.Writer.Step = step =>
            {
                if (step.StartsWith(Rename, StringComparison.Ordinal))
                {
                    Directory.CreateDirectory(a.PathOf(step[Rename.Length..]));
                }
            };
            var cursors = new List<string?>();
            var log = new List<string>();
            for (var i = 0; i < 4; i++)
            {
                b.Write($"other/f{i}.txt", $"elsewhere {i}");
                await b.SyncAsync();
                var p = await a.SyncAsync();
                Directory.Delete(a.PathOf("docs (Case Conflict)"));
                cursors.Add(a.State.GetSetting(StateKeys.Cursor));
                log.Add($"pass {i + 1}: cursor={cursors[^1]} errors={p.Errors} pending={p.Pending} notes=[{string.Join(" | ", p.Notes)}]");
                Assert.True(p.Notes.Any(n => n.Contains("could not rename 'docs' to 'docs (Case Conflict)'", StringComparison.Ordinal)),
                    "setup: the followed rename was not tried (or not failed) this pass:\n" + string.Join("\n", log));
            }

            // The cursor moves on after each pass the rename failed (each pass listed one more change), and the other
            // remote changes came down meanwhile.
            Assert.True(cursors.Distinct().Count() == cursors.Count, "the cursor stayed while the followed rename kept failing:\n" + string.Join("\n", log));
            Assert.Equal(["f0.txt", "f1.txt", "f2.txt", "f3.txt"], Directory.GetFiles(a.PathOf("other")).Select(Path.GetFileName).Order(StringComparer.Ordinal));

            a.State.Writer.Step = null;
            for (var i = 0; i < 3; i++)
            {
                var p = await a.SyncAsync();
                log.Add($"after: cursor={a.State.GetSetting(StateKeys.Cursor)} errors={p.Errors} notes=[{string.Join(" | ", p.Notes)}]");
            }

            AssertEndsAsTheServerHasIt(a, log);
            Assert.Null(a.State.GetSetting(StateKeys.CaseFollowedMoves)); // forgotten once made
        }
    }

    [Fact]
    public async Task A_followed_rename_not_made_still_follows_when_the_next_pass_lists_everything()
    {
        // Two files of the same content: a full listing links no move of them by content (MoveDetection), so only the
        // remembered move says where they went.
        var (a, b) = await FollowedClashAsync(twin: true);
        using (a)
        using (b)
        {
            a.State.Writer.Step = step =>
            {
                if (step.StartsWith(Rename, StringComparison.Ordinal))
                {
                    Directory.CreateDirectory(a.PathOf(step[Rename.Length..]));
                }
            };
            var first = await a.SyncAsync();
            Directory.Delete(a.PathOf("docs (Case Conflict)"));
            a.State.Writer.Step = null;
            var log = new List<string> { $"pass 1: cursor={a.State.GetSetting(StateKeys.Cursor)} notes=[{string.Join(" | ", first.Notes)}]" };
            Assert.True(first.Notes.Any(n => n.Contains("could not rename 'docs' to 'docs (Case Conflict)'", StringComparison.Ordinal)), "setup: " + log[0]);

            var listed = await a.SyncAsync(new SyncOptions { ListAll = true });
            log.Add($"pass 2 (lists everything): notes=[{string.Join(" | ", listed.Notes)}]");
            for (var i = 0; i < 2; i++)
            {
                log.Add($"after: notes=[{string.Join(" | ", (await a.SyncAsync()).Notes)}]");
            }

            AssertEndsAsTheServerHasIt(a, log, twin: true);
        }
    }

    [Fact]
    public async Task A_followed_folder_rename_that_waits_still_follows_the_server_once_it_settles()
    {
        var (a, b) = await FollowedClashAsync();
        using (a)
        using (b)
        {
            a.Write("docs/new.txt", "being written"); // young: the loser folder waits this pass
            var first = await a.SyncAsync(new SyncOptions { StableAge = TimeSpan.FromHours(1) });
            var log = new List<string> { $"pass 1: cursor={a.State.GetSetting(StateKeys.Cursor)} moves={a.State.GetSetting(StateKeys.CaseFollowedMoves)} notes=[{string.Join(" | ", first.Notes)}]" };
            Assert.True(first.Notes.Any(n => n.Contains("folder 'docs' differs only in case from another name and is still being written", StringComparison.Ordinal)), "setup: " + log[0]);
            Assert.False(Directory.Exists(a.PathOf("docs (Case Conflict)")), "the name the waiting folder follows came down beside it:\n" + string.Join("\n", log));

            File.SetLastWriteTimeUtc(a.PathOf("docs/new.txt"), DateTime.UtcNow.AddHours(-3));
            for (var i = 0; i < 3; i++)
            {
                log.Add($"after: notes=[{string.Join(" | ", (await a.SyncAsync()).Notes)}]");
            }

            AssertEndsAsTheServerHasIt(a, log, extra: "docs (Case Conflict)/new.txt");
            Assert.Equal("being written", a.Read("docs (Case Conflict)/new.txt"));
        }
    }

    /// <summary>
    /// 'b' syncs 'docs/x.txt'; 'a' has it and makes 'Docs/y.txt' (new here, so 'docs' is the clash's loser once the server
    /// no longer holds it); 'b' moves 'docs' to 'docs (Case Conflict)', as a device that resolved the clash does.
    /// </summary>
    private async Task<(TestClient A, TestClient B)> FollowedClashAsync(bool twin = false)
    {
        var b = new TestClient(_dir, "b", _server);
        b.Write("docs/x.txt", "synced");
        if (twin)
        {
            b.Write("docs/z.txt", "synced");
        }

        await b.SyncAsync();
        var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();
        a.Write("Docs/y.txt", "new here");
        File.SetLastWriteTimeUtc(a.PathOf("Docs/y.txt"), DateTime.UtcNow.AddHours(-3));
        Directory.Move(b.PathOf("docs"), b.PathOf("docs (Case Conflict)"));
        await b.SyncAsync();
        return (a, b);
    }

    /// <summary>The folder holds what the server holds: the moved files under the server's name, once each, beside 'Docs'.</summary>
    private void AssertEndsAsTheServerHasIt(TestClient a, List<string> log, bool twin = false, string? extra = null)
    {
        var here = TestClient.FilesIn(a.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        var server = _server.LivePaths().Select(p => p[..p.LastIndexOf('(')]).Where(p => !p.StartsWith("other/", StringComparison.Ordinal) || here.Contains(p)).ToList();
        var story = string.Join("\n", log) + "\nhere: " + string.Join(", ", here) + "\nserver: " + string.Join(", ", _server.LivePaths());
        var expected = new List<string> { "Docs/y.txt", "docs (Case Conflict)/x.txt" };
        if (twin)
        {
            expected.Add("docs (Case Conflict)/z.txt");
        }

        if (extra is not null)
        {
            expected.Add(extra);
        }

        Assert.True(expected.All(here.Contains) && here.Where(p => !p.StartsWith("other/", StringComparison.Ordinal)).Count() == expected.Count, "not as the server has it:\n" + story);
        Assert.True(server.Where(p => !p.StartsWith("other/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).SequenceEqual(expected.Order(StringComparer.Ordinal)), "the server does not hold what is here:\n" + story);
        Assert.Equal("synced", a.Read("docs (Case Conflict)/x.txt"));
    }
}
