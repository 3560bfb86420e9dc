using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// One generated case: ops that build the synced tree (server, folder and db agree, cursor at the head), then the
/// user's edits to the folder and another device's edits on the server since the cursor, the seed of the order the
/// concurrent steps run in, the stable age in local writes (<see cref="StableAge"/>: the last that many writes are
/// observed unsettled when the first pass scans; 0: the rule is off) and how many re-checks find a file the plan waited
/// for written again (<see cref="Rewrites"/>: it is still being written), and which files here cannot be read for a
/// few passes (<see cref="ReadErrors"/>: A picks a file after the edits, 1 + C % 3 reads fail), and the edits made
/// while the first fixed point waits for the user (<see cref="Later"/>, see <see cref="EditLater"/>), and the hidden
/// leftovers a stopped client left (<see cref="Leftovers"/>, see <see cref="PlaceLeftover"/>). Its
/// <see cref="ToString"/> is C# that rebuilds it (for a regression table test).
/// </summary>
internal sealed record PlannerCase(PlannerOp[] Synced, PlannerOp[] Local, PlannerOp[] Remote, int Order, bool Plain = false, int StableAge = 0, int Rewrites = 0, PlannerOp[]? ReadErrors = null, PlannerOp[]? Later = null,
    PlannerOp[]? Leftovers = null, bool CaseRenames = false)
{
    /// <summary>The coverage keys' suffix of the case's generator: the plain edits', the case renames', or none.</summary>
    public string Key => Plain ? " (plain)" : CaseRenames ? " (case renames)" : string.Empty;

    /// <summary>The model time of one local write (see <see cref="ModelWorld.Tick"/>).</summary>
    public static readonly TimeSpan Write = TimeSpan.FromTicks(10);

    /// <summary>
    /// The edits of a plain case: no case-only names, type changes or withheld paths, which the planner leaves to the
    /// user (skips), so nearly every path must converge.
    /// </summary>
    private static readonly EditKind[] PlainEdits = [EditKind.Edit, EditKind.Touch, EditKind.DeleteFile, EditKind.DeleteFolder, EditKind.CreateFile, EditKind.CreateFolder, EditKind.Rename, EditKind.Copy];

    private const int MaxDepth = 3;
    private static readonly int EditKinds = Enum.GetValues<EditKind>().Length;

    public override string ToString() =>
        $"new PlannerCase([{string.Join(", ", Synced)}], [{string.Join(", ", Local)}], [{string.Join(", ", Remote)}], {Order}{(Plain ? ", Plain: true" : string.Empty)}{(StableAge > 0 ? $", StableAge: {StableAge}" : string.Empty)}{(Rewrites > 0 ? $", Rewrites: {Rewrites}" : string.Empty)}{(ReadErrors is { Length: > 0 } ? $", ReadErrors: [{string.Join(", ", ReadErrors)}]" : string.Empty)}{(Later is { Length: > 0 } ? $", Later: [{string.Join(", ", Later)}]" : string.Empty)}{(Leftovers is { Length: > 0 } ? $", Leftovers: [{string.Join(", ", Leftovers)}]" : string.Empty)}{(CaseRenames ? ", CaseRenames: true" : string.Empty)})";

    /// <summary>How many reads fail in all (each adds at most one pass that waits).</summary>
    public int ReadFailures => ReadErrors?.Sum(op => 1 + (op.C % 3)) ?? 0;

    public ModelWorld Build()
    {
        var world = new ModelWorld(Write * StableAge);
        foreach (var op in Synced)
        {
            BuildSynced(world, op);
        }

        world.Cursor = world.Server.Head;
        foreach (var op in Local)
        {
            EditLocal(world, Plain ? MakePlain(op) : op);
        }

        foreach (var op in Remote)
        {
            EditRemote(world, Plain ? MakePlain(op) : op, CaseRenames);
        }

        foreach (var op in ReadErrors ?? [])
        {
            if (Pick(world.Local.Where(kv => kv.Value.Kind == ModelKind.File).Select(kv => kv.Key).ToList(), op.A) is { } f)
            {
                world.ReadErrors[f] = world.ReadErrors.GetValueOrDefault(f) + 1 + (op.C % 3);
            }
        }

        foreach (var op in Leftovers ?? [])
        {
            PlaceLeftover(world, op);
        }

        return world;
    }

    /// <summary>
    /// A hidden leftover a stopped client left in a folder the scan reads (B picks it), taken from a file of that folder
    /// (A picks it among the synced, remote and local files there): by Kind % 4 the file's synced bytes, its live remote
    /// bytes, its bytes here (a copy the user saved), or bytes the server never had; its holding name carries the file's
    /// name when C is even (a fresh name of the folder where there is no file), none when odd.
    /// </summary>
    private static void PlaceLeftover(ModelWorld world, PlannerOp op)
    {
        var snapshot = world.Scan();
        var folders = snapshot.Entries.Values.Where(e => e.Kind == FileKind.Folder && !snapshot.IsWithheld(e.Path)).Select(e => e.Path).Prepend(string.Empty).ToList();
        var folder = Pick(folders, op.B)!;
        bool In(string p) => ModelWorld.Parent(p) == folder;
        var files = world.Base.Values.Where(r => r.Kind == FileKind.File && In(r.Path)).Select(r => r.Path)
            .Concat(world.Server.Live.Where(kv => kv.Value.Kind == ModelKind.File && In(kv.Key)).Select(kv => kv.Key))
            .Concat(world.Local.Where(kv => kv.Value.Kind == ModelKind.File && In(kv.Key)).Select(kv => kv.Key))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var of = Pick(files, op.A);
        var content = (op.Kind % 4) switch
        {
            0 when of is not null && world.Base.TryGetValue(of, out var r) && r.Kind == FileKind.File => world.Server.History.First(c => ModelServer.Hash(c).AsSpan().SequenceEqual(r.ContentHash)),
            1 when of is not null && world.Server.Live.TryGetValue(of, out var n) && n.Kind == ModelKind.File => n.Content,
            2 when of is not null && world.Local.TryGetValue(of, out var l) && l.Kind == ModelKind.File => l.Content,
            _ => world.NewContent(),
        };
        var original = op.C % 2 == 1 ? null : of ?? Child(folder, op.C);
        var holding = (folder.Length == 0 ? string.Empty : folder + "/") + IgnoreMatcher.TempPrefix + "displaced-" + world.Leftovers.Count.ToString("x32", System.Globalization.CultureInfo.InvariantCulture)
            + (original is null ? string.Empty : "-" + ModelWorld.Name(original));
        world.Leftovers[holding] = new LeftoverNode(content, world.Tick(), original);
    }

    /// <summary>The op as a plain edit with a lower-case name (Names[0] and [1]).</summary>
    private static PlannerOp MakePlain(PlannerOp op) => op with { Kind = (int)PlainEdits[op.Kind % PlainEdits.Length], C = op.C % 2 };

    private static T? Pick<T>(IReadOnlyList<T> items, int index) => items.Count == 0 ? default : items[index % items.Count];

    private static string Child(string parent, int name) => parent.Length == 0 ? PlannerOp.Names[name % PlannerOp.Names.Length] : parent + "/" + PlannerOp.Names[name % PlannerOp.Names.Length];

    private static int Depth(string path) => path.Count(c => c == '/') + 1;

    private static string CaseFlipped(string path)
    {
        var name = ModelWorld.Name(path);
        var flipped = char.IsUpper(name[0]) ? char.ToLowerInvariant(name[0]) + name[1..] : char.ToUpperInvariant(name[0]) + name[1..];
        return path[..^name.Length] + flipped;
    }

    private void BuildSynced(ModelWorld world, PlannerOp op)
    {
        op = Plain ? op with { C = op.C % 2 } : op;
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
            case EditKind.Rename when Pick(all, op.A) is { } p && targetFree && !target.StartsWith(p + "/", StringComparison.Ordinal)
                && Depth(target) + world.Local.Keys.Where(k => k.StartsWith(p + "/", StringComparison.Ordinal)).Select(k => Depth(k) - Depth(p)).DefaultIfEmpty(0).Max() <= MaxDepth:
                if (ModelWorld.Parent(target) is { Length: > 0 } targetParent && !world.LocalMakeFolder(targetParent))
                {
                    break;
                }

                world.LocalMove(p, target);
                break;
            case EditKind.CaseRename when Pick(all, op.A) is { } p && !world.Local.ContainsKey(CaseFlipped(p)):
                world.LocalMove(p, CaseFlipped(p));
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

    /// <summary>
    /// One edit made after the first fixed point, before the user resolves what it left to them: aimed at a path at or
    /// under one of <paramref name="leftToUser"/> (skipped or withheld here), so it comes through the feed after the
    /// cursor moved past the first skip. Another device writes, deletes, or adds a file in such a folder, or the user
    /// writes to such a file here (its bytes before are the user's own overwrite, added to <paramref name="overwritten"/>:
    /// not a loss); with no such path, an ordinary remote edit.
    /// </summary>
    public void EditLater(ModelWorld world, PlannerOp op, IReadOnlyCollection<string> leftToUser, HashSet<int> overwritten)
    {
        bool Aimed(string p) => leftToUser.Any(u => p == u || p.StartsWith(u + "/", StringComparison.Ordinal));
        var server = world.Server;
        var remote = server.Live.Keys.Where(Aimed).ToList();
        var local = world.Local.Where(kv => kv.Value.Kind == ModelKind.File && Aimed(kv.Key)).Select(kv => kv.Key).ToList();
        switch (op.Kind % 4)
        {
            case 0 when Pick(remote, op.A) is { } p && server.Live[p].Kind == ModelKind.File:
                server.Put(p, ModelKind.File, world.NewContent());
                break;
            case 1 when Pick(remote, op.A) is { } p:
                server.Delete(p, 0);
                break;
            case 2 when Pick(remote, op.A) is { } p && server.Live[p].Kind == ModelKind.Folder && Child(p, op.C) is var child
                && Depth(child) <= MaxDepth && !server.Live.ContainsKey(child) && !server.HasLiveUnder(child):
                server.Put(child, ModelKind.File, world.NewContent());
                break;
            case 3 when Pick(local, op.A) is { } f:
                overwritten.Add(world.Local[f].Content);
                world.Local[f] = new LocalNode(ModelKind.File, world.NewContent(), world.Tick());
                break;
            default:
                EditRemote(world, Plain ? MakePlain(op) : op, CaseRenames);
                break;
        }
    }

    private static void EditRemote(ModelWorld world, PlannerOp op, bool caseRenames)
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
                // Now and then the content a local edit made (both sides made the same edit: recorded, not conflicted).
                var localEdits = world.Local.Values.Where(n => n.Kind == ModelKind.File && !server.History.Contains(n.Content)).Select(n => n.Content).ToList();
                server.Put(f, ModelKind.File, op.C % 3 == 0 && localEdits.Count > 0 ? Pick(localEdits, op.B) : world.NewContent());
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
            case EditKind.Rename when Pick(server.Live.Keys.ToList(), op.A) is { } p && targetFree
                && Depth(target) + server.Live.Keys.Where(k => k.StartsWith(p + "/", StringComparison.Ordinal)).Select(k => Depth(k) - Depth(p)).DefaultIfEmpty(0).Max() <= MaxDepth:
                server.Move(p, target, 0, out _);
                break;
            case EditKind.CaseRename when caseRenames && op.B % 4 == 3 && Pick(server.Live.Keys.ToList(), op.A) is { } p
                && Dropbox.SyncClient.Sync.CaseConflicts.FreeCaseConflictName(p, n => server.Live.Keys.Any(k => SyncPaths.CaseFoldKey(k) == SyncPaths.CaseFoldKey(n)) || server.HasLiveUnder(n)) is { } resolved:
                // Another device resolved a case clash of 'p': moved it on the server to its "(Case Conflict)" name, which
                // a device here that finds 'p' losing the same clash follows.
                server.Move(p, resolved, 0, out _);
                break;
            case EditKind.CaseRename when Pick(server.Live.Keys.ToList(), op.A) is { } p:
                server.Move(p, CaseFlipped(p), 0, out _);
                break;
            case EditKind.TypeChange when Pick(server.Live.Keys.ToList(), op.A) is { } p:
                var wasFile = server.Live[p].Kind == ModelKind.File;
                server.Delete(p, 0);
                if (wasFile)
                {
                    server.CreateFolder(p, out _);
                    if (op.C % 2 == 1 && Depth(p) < MaxDepth)
                    {
                        server.Put(p + "/a", ModelKind.File, world.NewContent());
                    }
                }
                else
                {
                    server.Put(p, ModelKind.File, world.NewContent());
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
