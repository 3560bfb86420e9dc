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
}
