using System.Security.Cryptography;
using Dropbox.Shared.Protos.Metadata;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// The metadata node as the planner's property tests see it: live entries by path, a change log with sequence numbers
/// (the feed the planner's remote view is folded from, by the real <c>RemoteChanges.Apply</c>), tombstones, and every
/// content ever committed (a restorable version). Its refusals follow <c>NamespaceFiles</c> and <c>UploadCommit</c>:
/// a stale base is a conflict, a parent that is a live file or a live folder in the way is AlreadyExists.
/// </summary>
internal sealed class ModelServer
{
    /// <summary>Live entries by path.</summary>
    public SortedDictionary<string, ServerNode> Live { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths deleted, with the sequence of their tombstone (a full listing shows them deleted).</summary>
    public Dictionary<string, ulong> Tombstones { get; } = new(StringComparer.Ordinal);

    /// <summary>The change feed, in sequence order.</summary>
    public List<Change> Log { get; } = [];

    /// <summary>Every content id ever committed: a restorable version.</summary>
    public HashSet<int> History { get; } = [];

    public ulong Head { get; private set; }

    public static byte[] Hash(int content) => content == 0 ? [] : SHA256.HashData(BitConverter.GetBytes(content));

    /// <summary>Sizes collide across contents on purpose: only the hash tells them apart.</summary>
    public static long Size(int content) => content == 0 ? 0 : 1 + (content % 3);

    public bool IsLiveFile(string path) => Live.TryGetValue(path, out var n) && n.Kind == ModelKind.File;

    public bool HasLiveUnder(string path) => Live.Keys.Any(p => p.StartsWith(path + "/", StringComparison.Ordinal));

    public bool ParentIsFile(string path)
    {
        for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            if (IsLiveFile(path[..slash]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Commits a file (UploadCommit.PrepareCommit): null on success, else the refusal.</summary>
    public ModelRefusal? Commit(string path, int content, ulong baseVersion, out ulong version)
    {
        version = 0;
        if (Live.TryGetValue(path, out var current))
        {
            if (current.Kind == ModelKind.Folder)
            {
                return ModelRefusal.AlreadyExists;
            }

            if (current.Content == content)
            {
                version = current.Version; // an identical commit changes nothing
                return null;
            }

            if (baseVersion != current.Version)
            {
                return ModelRefusal.Conflict;
            }
        }

        if (ParentIsFile(path) || HasLiveUnder(path))
        {
            return ModelRefusal.AlreadyExists;
        }

        version = Put(path, ModelKind.File, content);
        return null;
    }

    /// <summary>Writes a live entry and its change (upsert or folder).</summary>
    public ulong Put(string path, ModelKind kind, int content)
    {
        var seq = ++Head;
        Live[path] = new ServerNode(kind, seq, content);
        Tombstones.Remove(path);
        if (kind == ModelKind.File)
        {
            History.Add(content);
        }

        Log.Add(new Change { Sequence = seq, Kind = kind == ModelKind.Folder ? ChangeKind.Folder : ChangeKind.Upsert, Entry = Entry(path, Live[path]) });
        return seq;
    }

    /// <summary>DeleteAsync: NotFound, a stale base, a non-empty folder with onlyIfEmpty; else the entry and all under it.</summary>
    public ModelRefusal? Delete(string path, ulong baseVersion, bool onlyIfEmpty = false)
    {
        if (!Live.TryGetValue(path, out var current))
        {
            return ModelRefusal.NotFound;
        }

        if (baseVersion != 0 && baseVersion != current.Version)
        {
            return ModelRefusal.Conflict;
        }

        if (current.Kind == ModelKind.Folder)
        {
            var children = Live.Keys.Where(p => p.StartsWith(path + "/", StringComparison.Ordinal)).ToList();
            if (onlyIfEmpty && children.Count > 0)
            {
                return ModelRefusal.Conflict;
            }

            foreach (var child in children.OrderByDescending(c => c.Length))
            {
                Tombstone(child);
            }
        }

        Tombstone(path);
        return null;
    }

    /// <summary>MoveAsync: RequireLiveAtBase, the destination free (and nothing live under it, no file above it).</summary>
    public ModelRefusal? Move(string from, string to, ulong baseVersion, out ulong version)
    {
        version = 0;
        if (!Live.TryGetValue(from, out var current))
        {
            return ModelRefusal.NotFound;
        }

        if (baseVersion != 0 && baseVersion != current.Version)
        {
            return ModelRefusal.Conflict;
        }

        if (Live.ContainsKey(to) || ParentIsFile(to) || HasLiveUnder(to) || to.StartsWith(from + "/", StringComparison.Ordinal))
        {
            return ModelRefusal.AlreadyExists;
        }

        // A folder moves with everything under it, parents first, one move change each.
        var moves = Live.Keys.Where(p => p.StartsWith(from + "/", StringComparison.Ordinal)).OrderBy(p => p.Length).Prepend(from).ToList();
        foreach (var source in moves)
        {
            var seq = ++Head;
            var node = Live[source];
            var target = to + source[from.Length..];
            Live.Remove(source);
            Tombstones[source] = seq;
            Live[target] = node with { Version = seq };
            Tombstones.Remove(target);
            Log.Add(new Change { Sequence = seq, Kind = ChangeKind.Move, OldPath = source, Entry = Entry(target, Live[target]) });
            version = version == 0 ? seq : version;
        }

        return null;
    }

    /// <summary>CreateFolderAsync: an existing folder is returned as is; a file there or above is AlreadyExists.</summary>
    public ModelRefusal? CreateFolder(string path, out ulong version)
    {
        version = 0;
        if (Live.TryGetValue(path, out var current))
        {
            if (current.Kind == ModelKind.Folder)
            {
                version = current.Version;
                return null;
            }

            return ModelRefusal.AlreadyExists;
        }

        if (ParentIsFile(path))
        {
            return ModelRefusal.AlreadyExists;
        }

        version = Put(path, ModelKind.Folder, 0);
        return null;
    }

    /// <summary>The feed after <paramref name="cursor"/>.</summary>
    public IEnumerable<Change> ChangesAfter(ulong cursor) => Log.Where(c => c.Sequence > cursor);

    /// <summary>One path's entry of <see cref="Listing"/> (live, or deleted), or null: what ListVersions' newest version says.</summary>
    public FileEntry? EntryOf(string path) =>
        Live.TryGetValue(path, out var node) ? Entry(path, node)
        : Tombstones.TryGetValue(path, out var seq) ? new FileEntry { Path = path, Version = seq, Deleted = true }
        : null;

    /// <summary>A full listing with deleted entries, as ListFiles(includeDeleted) answers it.</summary>
    public IEnumerable<FileEntry> Listing()
    {
        foreach (var (path, node) in Live)
        {
            yield return Entry(path, node);
        }

        foreach (var (path, seq) in Tombstones)
        {
            yield return new FileEntry { Path = path, Version = seq, Deleted = true };
        }
    }

    private void Tombstone(string path)
    {
        var seq = ++Head;
        var kind = Live[path].Kind == ModelKind.Folder ? EntryKind.Folder : EntryKind.File;
        Live.Remove(path);
        Tombstones[path] = seq;
        Log.Add(new Change { Sequence = seq, Kind = ChangeKind.Delete, Entry = new FileEntry { Path = path, Version = seq, Deleted = true, Kind = kind } });
    }

    private static FileEntry Entry(string path, ServerNode node) => new()
    {
        Path = path,
        Version = node.Version,
        Kind = node.Kind == ModelKind.Folder ? EntryKind.Folder : EntryKind.File,
        Size = (ulong)Size(node.Content),
        ContentHash = ByteString.CopyFrom(Hash(node.Content)),
        MtimeUnixMs = 1,
    };
}
