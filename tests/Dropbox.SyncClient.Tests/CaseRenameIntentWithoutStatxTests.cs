using System.Reflection;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The case-rename intent where statx cannot be used (not Linux, an old C library, a container filter): no inode is
/// recorded, so a folder at the new name cannot be told from one the user made there since, and is not given the rows.
/// </summary>
[Collection(WithoutStatxCollection.Name)]
public sealed class CaseRenameIntentWithoutStatxTests : IDisposable
{
    private static readonly FieldInfo Unavailable = typeof(FileChangeTime).GetField("_unavailable", BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// <see cref="CaseRenameIntentTests.A_folder_put_at_the_new_name_after_the_crash_is_not_given_the_rows"/>, without
    /// statx: the user removes the renamed folder and puts another at the new name (with a copy of x.txt, as cp -a makes
    /// it). Taken for the renamed one by its kind (review in53), it was given the rows, and x.txt's remembered delete was
    /// applied to the user's own copy (review rd51b's danger).
    /// </summary>
    [Fact]
    public async Task Without_statx_a_folder_put_at_the_new_name_after_the_crash_is_not_given_the_rows()
    {
        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            using var a = await CaseClash.SyncedAsync(_dir, _server);
            await CaseRenameIntentAfterCrashTests.CrashAtAsync(_server, a, step => step.StartsWith("before db move", StringComparison.Ordinal));
            Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));
            var mtime = File.GetLastWriteTimeUtc(a.PathOf($"{CaseClash.Moved}/x.txt"));
            Directory.Delete(a.PathOf(CaseClash.Moved), recursive: true);
            a.Write($"{CaseClash.Moved}/x.txt", "x as synced");
            File.SetLastWriteTimeUtc(a.PathOf($"{CaseClash.Moved}/x.txt"), mtime);

            var notes = await Convergence.SettleAsync(a);

            var trashed = Directory.Exists(Path.Combine(a.State.StateDirectory, "trash"))
                ? Directory.GetFiles(Path.Combine(a.State.StateDirectory, "trash"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList() : [];
            Assert.True(File.Exists(a.PathOf($"{CaseClash.Moved}/x.txt")),
                $"(trash holds [{string.Join(", ", trashed)}]) the user's own copy at the new name was deleted here: " + await CaseRenameIntentAfterCrashTests.StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes));
            await Convergence.AssertSameAsync(_server, a, notes);
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }

    /// <summary>
    /// A FILE's case rename crashed before the rows' db write; the user then puts another file of the same size and mtime
    /// at the new name (a <c>cp -p</c>, an archive's), and another device edits that name on the server. Without statx
    /// "as synced" is size and mtime alone: given the row (the file rule of <see cref="CaseRenameIntent.Decide"/>), the
    /// user's file was taken as unchanged and the server's edit overwrote it, nothing in the trash (review in53b). The rule
    /// now needs statx: the file is new, kept beside the server's edit.
    /// </summary>
    [Fact]
    public async Task Without_statx_a_same_size_same_mtime_other_file_at_a_renamed_files_new_name_is_not_overwritten()
    {
        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            using var a = new TestClient(_dir, "a", _server);
            await TestClient.CommitAsOtherClientAsync(_dir, _server, "Notes.txt", "older");
            Assert.Equal(0, (await a.SyncAsync()).Errors);
            await TestClient.CommitAsOtherClientAsync(_dir, _server, "notes.txt", "notes as synced", client: "web2");
            Assert.Equal(0, (await a.SyncAsync()).Errors);
            await CaseRenameIntentAfterCrashTests.CrashAtAsync(_server, a, step => step.StartsWith("before db move", StringComparison.Ordinal), deleteBeforeTheMove: false);
            Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));

            var renamed = TestClient.FilesIn(a.Folder).Select(Path.GetFileName).Single(n => n!.Contains("Case Conflict", StringComparison.Ordinal))!;
            var mtime = File.GetLastWriteTimeUtc(a.PathOf(renamed));
            await EditOnServerAsync(renamed, "notes edited by b on the server, longer");
            Assert.Equal("notes as synced".Length, "USERS OTHER FIL".Length);
            File.WriteAllText(a.PathOf("tmp-copy"), "USERS OTHER FIL");
            File.SetLastWriteTimeUtc(a.PathOf("tmp-copy"), mtime);
            File.Move(a.PathOf("tmp-copy"), a.PathOf(renamed), overwrite: true);

            var notes = await Convergence.SettleAsync(a);

            var state = await CaseRenameIntentAfterCrashTests.StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
            var texts = TestClient.FilesIn(a.Folder).Select(File.ReadAllText).ToList();
            Assert.True(texts.Count(t => t == "USERS OTHER FIL") == 1, "the user's other file at the new name was overwritten: " + state);
            Assert.True(texts.Count(t => t == "notes edited by b on the server, longer") == 1, "the server's edit is not here once: " + state);
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }

    private async Task EditOnServerAsync(string path, string text)
    {
        using var web = new TestClient(_dir, "b2", _server);
        web.Write("staging/" + path, text);
        await web.SyncAsync();
        var staged = _server.Current("staging/" + path)!;
        var commit = new Dropbox.Shared.Protos.Metadata.CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "b", BaseVersion = _server.Current(path)!.Version };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);
        await _server.DeleteFileAsync(new Dropbox.Shared.Protos.Metadata.DeleteFileRequest { Path = "staging/" + path, Device = "b" }, CancellationToken.None);
    }
}
