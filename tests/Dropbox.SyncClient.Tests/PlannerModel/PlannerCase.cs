using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// One generated case: ops that build the synced tree (server, folder and db agree, cursor at the head), then the
/// user's edits to the folder and another device's edits on the server since the cursor, and the seed of the order
/// the concurrent steps run in. Its <see cref="ToString"/> is C# that rebuilds it (for a regression table test).
/// </summary>
internal sealed record PlannerCase(PlannerOp[] Synced, PlannerOp[] Local, PlannerOp[] Remote, int Order)
{
    private const int MaxDepth = 3;
    private static readonly int EditKinds = Enum.GetValues<EditKind>().Length;

    public override string ToString() =>
        $"new PlannerCase([{string.Join(", ", Synced)}], [{string.Join(", ", Local)}], [{string.Join(", ", Remote)}], {Order})";

    public ModelWorld Build()
    {
        var world = new ModelWorld();
        foreach (var op in Synced)
        {
            BuildSynced(world, op);
        }

        world.Cursor = world.Server.Head;
        foreach (var op in Local)
        {
            EditLocal(world, op);
        }

        foreach (var op in Remote)
        {
            EditRemote(world, op);
        }

        return world;
    }

    private static T? Pick<T>(IReadOnlyList<T> items, int index) => items.Count == 0 ? default : items[index % items.Count];

    private static string Child(string parent, int name) => parent.Length == 0 ? PlannerOp.Names[name % PlannerOp.Names.Length] : parent + "/" + PlannerOp.Names[name % PlannerOp.Names.Length];

    private static int Depth(string path) => path.Count(c => c == '/') + 1;

    private static string CaseFlipped(string path)
    {
        var name = ModelWorld.Name(path);
        var flipped = char.IsUpper(name[0]) ? char.ToLowerInvariant(name[0]) + name[1..] : char.ToUpperInvariant(name[0]) + name[1..];
        return path[..^name.Length] + flipped;
    }

    private static void BuildSynced(ModelWorld world, PlannerOp op)
    {
        var folders = world.Local.Where(kv => kv.Value.Kind == ModelKind.Folder).Select(kv => kv.Key).Prepend(string.Empty).ToList();
        var parent = Pick(folders, op.B)!;
        var path = Child(parent, op.C);
        var key = Dropbox.SyncClient.Local.SyncPaths.CaseFoldKey(path);
        if (Depth(path) > MaxDepth || world.Local.Keys.Any(p => Dropbox.SyncClient.Local.SyncPaths.CaseFoldKey(p) == key))
        {
            return; // the synced tree starts without case clashes
        }

        if (op.Kind % 3 == 0)
        {
            world.LocalMakeFolder(path);
            var version = world.Server.Put(path, ModelKind.Folder, 0);
            world.Base[path] = new FileRecord(path, FileKind.Folder, 0, 0, version, []);
        }
        else
        {
            var content = world.NewContent();
            world.LocalWrite(path, content);
            var version = world.Server.Put(path, ModelKind.File, content);
            world.Base[path] = world.FileRecordOf(path, version);
        }
    }

    private static void EditLocal(ModelWorld world, PlannerOp op)
    {
        var all = world.Local.Keys.ToList();
        var files = world.Local.Where(kv => kv.Value.Kind == ModelKind.File).Select(kv => kv.Key).ToList();
        var folders = world.Local.Where(kv => kv.Value.Kind == ModelKind.Folder).Select(kv => kv.Key).ToList();
        var parents = folders.Prepend(string.Empty).ToList();
        var target = Child(Pick(parents, op.B)!, op.C);
        var targetFree = !world.Local.ContainsKey(target) && Depth(target) <= MaxDepth;
        switch ((EditKind)(op.Kind % EditKinds))
        {
            case EditKind.Edit when Pick(files, op.A) is { } f:
                world.Local[f] = new LocalNode(ModelKind.File, world.NewContent(), world.Tick());
                break;
            case EditKind.Touch when Pick(files, op.A) is { } f:
                world.Local[f] = world.Local[f] with { MtimeTicks = world.Tick() };
                break;
            case EditKind.DeleteFile when Pick(files, op.A) is { } f:
                world.LocalRemoveTree(f);
                break;
            case EditKind.DeleteFolder when Pick(folders, op.A) is { } d:
                world.LocalRemoveTree(d);
                break;
            case EditKind.CreateFile when targetFree:
                world.LocalWrite(target, world.NewContent());
                break;
            case EditKind.CreateFolder when targetFree:
                world.LocalMakeFolder(target);
                break;
            case EditKind.Rename when Pick(files, op.A) is { } f && targetFree && !target.StartsWith(f + "/", StringComparison.Ordinal):
                var moved = world.Local[f];
                world.LocalRemoveTree(f);
                world.LocalWrite(target, moved.Content, moved.MtimeTicks);
                break;
            case EditKind.CaseRename when Pick(all, op.A) is { } p && !world.Local.ContainsKey(CaseFlipped(p)):
                var to = CaseFlipped(p);
                foreach (var old in world.Local.Keys.Where(k => k == p || k.StartsWith(p + "/", StringComparison.Ordinal)).ToList())
                {
                    var node = world.Local[old];
                    world.Local.Remove(old);
                    world.Local[to + old[p.Length..]] = node;
                    if (world.Unreadable.Remove(old))
                    {
                        world.Unreadable.Add(to + old[p.Length..]);
                    }
                }

                break;
            case EditKind.TypeChange when Pick(all, op.A) is { } p:
                var wasFile = world.Local[p].Kind == ModelKind.File;
                world.LocalRemoveTree(p);
                if (wasFile)
                {
                    world.LocalMakeFolder(p);
                    if (op.C % 2 == 1 && Depth(p) < MaxDepth)
                    {
                        world.LocalWrite(p + "/a", world.NewContent());
                    }
                }
                else
                {
                    world.LocalWrite(p, world.NewContent());
                }

                break;
            case EditKind.Withhold when Pick(all, op.A) is { } p:
                world.Unreadable.Add(p);
                break;
            case EditKind.Copy when Pick(files, op.A) is { } f && targetFree:
                world.LocalWrite(target, world.Local[f].Content);
                break;
        }
    }

    private static void EditRemote(ModelWorld world, PlannerOp op)
    {
        var server = world.Server;
        var files = server.Live.Where(kv => kv.Value.Kind == ModelKind.File).Select(kv => kv.Key).ToList();
        var explicitFolders = server.Live.Where(kv => kv.Value.Kind == ModelKind.Folder).Select(kv => kv.Key);
        var implicitFolders = server.Live.Keys.SelectMany(Ancestors);
        var folders = explicitFolders.Concat(implicitFolders).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var target = Child(Pick(folders.Prepend(string.Empty).ToList(), op.B)!, op.C);
        var targetFree = !server.Live.ContainsKey(target) && !server.ParentIsFile(target) && !server.HasLiveUnder(target) && Depth(target) <= MaxDepth;
        switch ((EditKind)(op.Kind % EditKinds))
        {
            case EditKind.Edit when Pick(files, op.A) is { } f:
                server.Put(f, ModelKind.File, world.NewContent());
                break;
            case EditKind.Touch when Pick(files, op.A) is { } f:
                server.Put(f, ModelKind.File, server.Live[f].Content);
                break;
            case EditKind.DeleteFile when Pick(files, op.A) is { } f:
                server.Delete(f, 0);
                break;
            case EditKind.DeleteFolder when Pick(folders, op.A) is { } d:
                if (!server.Live.ContainsKey(d))
                {
                    foreach (var p in server.Live.Keys.Where(k => k.StartsWith(d + "/", StringComparison.Ordinal)).OrderByDescending(k => k.Length).ToList())
                    {
                        server.Delete(p, 0);
                    }
                }
                else
                {
                    server.Delete(d, 0);
                }

                break;
            case EditKind.CreateFile when targetFree:
                server.Put(target, ModelKind.File, world.NewContent());
                break;
            case EditKind.CreateFolder when targetFree:
                server.CreateFolder(target, out _);
                break;
            case EditKind.Rename when Pick(files, op.A) is { } f && targetFree:
                server.Move(f, target, 0, out _);
                break;
            case EditKind.CaseRename when Pick(files, op.A) is { } f:
                server.Move(f, CaseFlipped(f), 0, out _);
                break;
            case EditKind.TypeChange when Pick(files, op.A) is { } f:
                server.Delete(f, 0);
                server.CreateFolder(f, out _);
                if (op.C % 2 == 1 && Depth(f) < MaxDepth)
                {
                    server.Put(f + "/a", ModelKind.File, world.NewContent());
                }

                break;
            case EditKind.Withhold or EditKind.Copy when Pick(files, op.A) is { } f && targetFree:
                server.Put(target, ModelKind.File, server.Live[f].Content);
                break;
        }
    }

    private static IEnumerable<string> Ancestors(string path)
    {
        for (var p = ModelWorld.Parent(path); p.Length > 0; p = ModelWorld.Parent(p))
        {
            yield return p;
        }
    }
}
