using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// The user removing what a fixed point leaves to them, as a user would: an unreadable folder made readable (and a
/// symbolic link replaced by its file); the later of two names that differ only in case, and one side of a kind clash
/// (a file on one side, a folder on the other), renamed to a free name or deleted, here or (where the path is on the
/// server too) remotely by another device (for a case clash, as the engine's case-conflict step renames a remote name).
/// The pick is random: the issue's own case was resolved by a delete here, a rename keeps both sides' bytes.
/// </summary>
/// <remarks>
/// The model has no ignore rules and its server sends no path the client refuses (<see cref="ModelWorld.Fetch"/>
/// throws on one), so there is no refusal or ignore rule to lift. A file whose read fails lifts itself (its read
/// errors run out) and a file still being written settles: neither needs the user.
/// </remarks>
internal static class ModelUser
{
    /// <summary>
    /// Resolves every cause it finds; returns what it did, each as its kind (what and how, for the coverage counts) and
    /// the paths (empty: nothing was left that the user can resolve).
    /// </summary>
    /// <param name="discarded">Gets the contents the user deleted here (not a loss: their own delete).</param>
    public static List<(string Kind, string Paths)> Resolve(ModelWorld world, List<SyncAction> plan, LocalSnapshot snapshot, Random random, HashSet<int> discarded)
    {
        var done = new List<(string Kind, string Paths)>();
        foreach (var path in world.Unreadable.Order(StringComparer.Ordinal).ToList())
        {
            world.Unreadable.Remove(path);
            done.Add(("made readable", path));
        }

        // The scan withholds the later of two names here that differ only in case (the model's scan, like a
        // case-insensitive device, takes one of them). The user renames or deletes either: the one the scan took too,
        // which uncovers the withheld one as it is (the case: a remote delete of it skipped meanwhile).
        foreach (var withheld in snapshot.Withheld.Order(StringComparer.Ordinal))
        {
            var key = SyncPaths.CaseFoldKey(withheld);
            if (world.Local.ContainsKey(withheld) && world.Local.Keys.FirstOrDefault(p => p != withheld && SyncPaths.CaseFoldKey(p) == key) is { } taken)
            {
                var path = random.Next(2) == 0 ? withheld : taken;
                done.Add(Rename(world, path, bothSides: world.Server.Live.ContainsKey(path) && world.Server.Live.Keys.Any(p => p != path && SyncPaths.CaseFoldKey(p) == key), random, discarded, path == withheld ? "case clash" : "case clash, the name taken"));
            }
        }

        // Parents first: renaming a folder resolves every clash under it.
        foreach (var path in plan.Where(a => a.Kind == SyncActionKind.Skip && a.Reason == SyncPlanner.KindClashReason).Select(a => a.Path).Order(StringComparer.Ordinal))
        {
            if (world.Local.ContainsKey(path) || world.Server.Live.ContainsKey(path))
            {
                done.Add(Rename(world, path, bothSides: world.Server.Live.ContainsKey(path), random, discarded, "kind clash"));
            }
        }

        return done;
    }

    /// <summary>
    /// Renames or deletes the path (with all under it) here, or, when it is on the server too, perhaps there instead.
    /// </summary>
    private static (string Kind, string Paths) Rename(ModelWorld world, string path, bool bothSides, Random random, HashSet<int> discarded, string why)
    {
        var here = world.Local.ContainsKey(path);
        var remotely = !here || (bothSides && random.Next(2) == 0);
        var delete = random.Next(3) == 0;
        if (remotely)
        {
            if (delete)
            {
                // Every version stays restorable on the server.
                return world.Server.Delete(path, 0) is { } refusedDelete
                    ? throw new InvalidOperationException($"the model server refused to delete '{path}': {refusedDelete}")
                    : ($"{why}: deleted remotely", path);
            }

            var target = world.FreshName(path);
            return world.Server.Move(path, target, 0, out _) is { } refused
                ? throw new InvalidOperationException($"the model server refused to rename '{path}' to the free name '{target}': {refused}")
                : ($"{why}: renamed remotely", $"{path} -> {target}");
        }

        if (delete)
        {
            discarded.UnionWith(world.Local.Where(kv => kv.Value.Kind == ModelKind.File && (kv.Key == path || kv.Key.StartsWith(path + "/", StringComparison.Ordinal))).Select(kv => kv.Value.Content));
            world.LocalRemoveTree(path);
            return ($"{why}: deleted here", path);
        }

        var to = world.FreshName(path);
        world.LocalMove(path, to);
        return ($"{why}: renamed here", $"{path} -> {to}");
    }
}
