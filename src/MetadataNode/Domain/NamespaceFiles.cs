using System.Text;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Sync;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// A namespace's files and versions: listing, history, restore, delete, move, folders, and the rules every new version
/// follows (references, totals, retention by count, the change it appends). Writes through the store's transactions.
/// </summary>
internal sealed partial class NamespaceFiles
{
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly MetadataNodeOptions _options;

    public NamespaceFiles(RocksEngine engine, StoreTransactions transactions, MetadataNodeOptions options)
    {
        _engine = engine;
        _transactions = transactions;
        _options = options;
    }

    private long NowMs => _options.Clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The cursor at the namespace's head.</summary>
    internal static string HeadCursor(NamespaceRecord record) =>
        new ChangeCursor(record.NamespaceId, record.Head, record.Epoch).ToString();

    /// <summary>Most entries in one page of a listing.</summary>
    public const int MaxListPage = 10_000;

    /// <summary>
    /// Live entries under a folder (recursively), or every entry with <paramref name="includeDeleted"/>, in path order.
    /// With a <paramref name="limit"/>, one page of at most that many entries after <paramref name="startAfter"/>.
    /// </summary>
    public FileListing ListFiles(NamespaceState ns, string? prefix, bool includeDeleted, uint limit = 0, string? startAfter = null)
    {
        var folder = PathGuard.NormalizePrefix(prefix);
        var head = ns.Record;
        var entries = new List<PathEntry>();
        var hasMore = false;
        var keyPrefix = Keys.FilePrefix(ns.Id, folder.Length == 0 ? string.Empty : folder + "/");
        var max = limit == 0 ? int.MaxValue : (int)Math.Min(limit, MaxListPage);
        byte[]? start = null;
        if (startAfter is not null && PathGuard.Utf8Length(startAfter) > Limits.MaxPathBytes)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"start_after is longer than a path may be ({Limits.MaxPathBytes} bytes): pass the last path of the previous page.");
        }

        if (!string.IsNullOrEmpty(startAfter))
        {
            // The smallest key after startAfter's (paths hold no NUL byte), but never before the prefix.
            var after = Keys.File(ns.Id, startAfter);
            start = new byte[after.Length + 1];
            after.CopyTo(start, 0);
            if (start.AsSpan().SequenceCompareTo(keyPrefix) < 0)
            {
                start = null;
            }
        }

        foreach (var (_, value) in _engine.ScanPrefix(_engine.Files, keyPrefix, start))
        {
            var current = StoredFormat.ReadFile(value).Current;
            if (includeDeleted || !current.Deleted)
            {
                if (entries.Count == max)
                {
                    hasMore = true;
                    break;
                }

                entries.Add(current);
            }
        }

        return new FileListing(entries, HeadCursor(head), hasMore);
    }

    /// <summary>Retained versions of a path, newest first (tombstones included).</summary>
    public IReadOnlyList<PathEntry> ListVersions(NamespaceState ns, string? path)
    {
        var normalized = PathGuard.Normalize(path);
        var versions = _engine.ScanPrefix(_engine.Versions, Keys.VersionPrefix(ns.Id, normalized))
            .Select(kv => StoredFormat.ReadVersion(kv.Value))
            .ToList();
        if (versions.Count == 0)
        {
            throw new DropboxException(ErrorKind.NotFound, $"'{normalized}' has no versions.");
        }

        versions.Reverse();
        return versions;
    }

    /// <summary>
    /// The versions among <paramref name="versions"/> that are damaged: they name a chunk no intact copy of is left
    /// (<see cref="ChunkLedger.IsLost"/>), so they cannot be downloaded. Each distinct chunk is read once.
    /// </summary>
    public IReadOnlySet<ulong> DamagedVersions(IReadOnlyList<PathEntry> versions)
    {
        var damaged = new HashSet<ulong>();
        var lost = new Dictionary<ChunkId, bool>();
        foreach (var version in versions)
        {
            if (!IsLiveFile(version))
            {
                continue;
            }

            foreach (var chunk in version.Chunks)
            {
                if (!lost.TryGetValue(chunk.Id, out var isLost))
                {
                    lost[chunk.Id] = isLost = ChunkLedger.IsLost(ChunkLedger.Read(_engine, chunk.Id));
                }

                if (isLost)
                {
                    damaged.Add(version.Version);
                    break;
                }
            }
        }

        return damaged;
    }

    /// <summary>
    /// Brings back a retained version (deleted files too) as a new version. With <paramref name="onlyIfDeleted"/>,
    /// refuses (AlreadyExists) a path that is live now, checked in the same write as the restore.
    /// </summary>
    public async Task<Committed> RestoreAsync(NamespaceState ns, string? path, ulong version, string? device, bool onlyIfDeleted = false)
    {
        var normalized = PathGuard.Normalize(path);
        var deviceName = ValidDevice(device);
        var now = NowMs;
        var response = await _transactions.MutateDurableAsync(ns, (batch, record) =>
        {
            PathEntry? source = null;
            if (version == 0)
            {
                foreach (var (_, value) in _engine.ScanPrefix(_engine.Versions, Keys.VersionPrefix(ns.Id, normalized)))
                {
                    var candidate = StoredFormat.ReadVersion(value);
                    if (!candidate.Deleted && candidate.Kind == PathKind.File)
                    {
                        source = candidate;
                    }
                }

                if (source is null)
                {
                    throw new DropboxException(ErrorKind.NotFound, $"'{normalized}' has no retained version to restore.");
                }
            }
            else
            {
                var bytes = _engine.Get(Keys.Version(ns.Id, normalized, version), _engine.Versions)
                    ?? throw new DropboxException(ErrorKind.NotFound, $"'{normalized}' has no version {version} (it never existed or retention removed it); list versions to see what is kept.");
                source = StoredFormat.ReadVersion(bytes);
                if (source.Deleted || source.Kind != PathKind.File)
                {
                    throw new DropboxException(ErrorKind.InvalidArgument, $"Version {version} of '{normalized}' is a deletion, not content; pick an earlier version.");
                }
            }

            var current = batch.GetFile(ns.Id, normalized)?.Current;
            if (onlyIfDeleted && IsLive(current))
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{normalized}' is live now (version {current!.Version}); it was not restored over.");
            }

            // A damaged version (a chunk with no intact copy left: the rule the download plan refuses by) would come back
            // as a current version no device can download; refused like its download, naming the chunk.
            foreach (var chunk in source.Chunks)
            {
                if (ChunkLedger.IsLost(batch.GetChunk(chunk.Id)))
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"Version {source.Version} of '{normalized}' is damaged: chunk {chunk.Id} has no intact copy left on any storage node, so it cannot be restored. Restore an undamaged version ('history' marks the damaged ones) or upload the file again.");
                }
            }

            if (IsLive(current) && current!.Kind == PathKind.Folder)
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{normalized}' is now a folder; move it away before restoring the file.");
            }

            EnsureParentsAreNotFiles(batch, ns.Id, normalized);
            EnsureNothingLiveUnder(batch, ns.Id, normalized);
            var entry = source with { Version = ++record!.Head, ModifiedBy = deviceName, ServerTimeUnixMs = now };
            ApplyVersion(batch, record, entry, now);
            AppendChange(batch, record, ChangeType.Upsert, entry);
            return new Committed(entry);
        }).ConfigureAwait(false);
        return response;
    }

    /// <summary>
    /// Deletes a file (a tombstone version), or a folder with everything under it (one change each); with
    /// <paramref name="onlyIfEmpty"/> a folder that still holds a live entry is refused instead. A delete meant for one kind
    /// (<paramref name="expectedKind"/>; <paramref name="onlyIfEmpty"/> means a folder) is refused (CONFLICT) when the path now
    /// holds the other kind: a device that still has a folder where another device made a file must not delete that file.
    /// </summary>
    public async Task<ulong> DeleteAsync(NamespaceState ns, string? path, ulong baseVersion, string? device, bool onlyIfEmpty = false, PathKind? expectedKind = null)
    {
        var normalized = PathGuard.Normalize(path);
        var deviceName = ValidDevice(device);
        if (onlyIfEmpty && expectedKind == PathKind.File)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"only_if_empty applies to a folder, but expected_kind is FILE for '{normalized}'.");
        }

        var kind = onlyIfEmpty ? PathKind.Folder : expectedKind;
        var now = NowMs;
        var response = await _transactions.MutateDurableAsync(ns, (batch, record) =>
        {
            var current = RequireLiveAtBase(batch, ns.Id, normalized, baseVersion);
            if (kind is { } expected && current.Kind != expected)
            {
                throw new DropboxException(ErrorKind.Conflict, $"'{normalized}' is now a {KindName(current.Kind)} (version {current.Version}), not the {KindName(expected)} this delete was meant for; nothing was deleted.");
            }

            if (current.Kind == PathKind.Folder)
            {
                var children = LiveDescendants(ns.Id, normalized);
                if (onlyIfEmpty && children.Count > 0)
                {
                    throw new DropboxException(ErrorKind.Conflict, $"'{normalized}' is not empty: {children.Count} entr{(children.Count == 1 ? "y is" : "ies are")} still under it (for example '{children[0].Path}').");
                }

                if (children.Count > Limits.MaxFolderOperationEntries)
                {
                    throw new DropboxException(ErrorKind.ResourceExhausted, $"'{normalized}' holds {children.Count} entries; delete at most {Limits.MaxFolderOperationEntries} at once.");
                }

                // Deepest first, so a reader replaying the log never sees a child outlive its folder.
                foreach (var child in children.OrderByDescending(c => c.Path.Length))
                {
                    Tombstone(batch, record!, child, deviceName, now);
                }
            }

            return Tombstone(batch, record!, current, deviceName, now);
        }).ConfigureAwait(false);
        return response;
    }

    /// <summary>Moves a file (one change, no re-upload) or a folder with everything under it (one change per entry).</summary>
    public async Task<Committed> MoveAsync(NamespaceState ns, string? fromPath, string? toPath, ulong baseVersion, string? device)
    {
        var from = PathGuard.Normalize(fromPath, "from_path");
        var to = PathGuard.Normalize(toPath, "to_path");
        var deviceName = ValidDevice(device);
        if (from == to)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"from_path and to_path are both '{from}'.");
        }

        if (to.StartsWith(from + "/", StringComparison.Ordinal))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Cannot move '{from}' into itself ('{to}').");
        }

        var now = NowMs;
        var response = await _transactions.MutateDurableAsync(ns, (batch, record) =>
        {
            var current = RequireLiveAtBase(batch, ns.Id, from, baseVersion);

            if (IsLive(batch.GetFile(ns.Id, to)?.Current))
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{to}' already exists; delete or move it first, or pick another name.");
            }

            EnsureParentsAreNotFiles(batch, ns.Id, to);
            EnsureNothingLiveUnder(batch, ns.Id, to); // a move never lands on (or merges into) a folder that only its entries make
            var moves = new List<PathEntry> { current };
            if (current.Kind == PathKind.Folder)
            {
                var children = LiveDescendants(ns.Id, from);
                if (children.Count + 1 > Limits.MaxFolderOperationEntries)
                {
                    throw new DropboxException(ErrorKind.ResourceExhausted, $"'{from}' holds {children.Count} entries; move at most {Limits.MaxFolderOperationEntries} at once.");
                }

                // Parents first, so a reader replaying the log creates the folder before its children.
                moves.AddRange(children.OrderBy(c => c.Path.Length));
            }

            Committed? first = null;
            foreach (var source in moves)
            {
                var newPath = to + source.Path[from.Length..];
                if (!ReferenceEquals(source, current) && IsLive(batch.GetFile(ns.Id, newPath)?.Current))
                {
                    throw new DropboxException(ErrorKind.AlreadyExists, $"'{newPath}' already exists.");
                }

                var sequence = ++record!.Head;
                var moved = source with { Path = newPath, Version = sequence, ModifiedBy = deviceName, ServerTimeUnixMs = now };
                var tombstone = TombstoneOf(source, sequence, deviceName, now);
                ApplyVersion(batch, record, tombstone, now);
                ApplyVersion(batch, record, moved, now);
                AppendChange(batch, record, ChangeType.Move, moved, source.Path);
                first ??= new Committed(moved);
            }

            return first!;
        }).ConfigureAwait(false);
        return response;
    }

    /// <summary>Creates a folder entry; an existing folder is returned as is.</summary>
    public async Task<Committed> CreateFolderAsync(NamespaceState ns, string? path, string? device)
    {
        var normalized = PathGuard.Normalize(path);
        var deviceName = ValidDevice(device);
        var now = NowMs;
        var response = await _transactions.MutateDurableAsync(ns, (batch, record) =>
        {
            var current = batch.GetFile(ns.Id, normalized)?.Current;
            if (IsLive(current))
            {
                if (current!.Kind == PathKind.Folder)
                {
                    return new Committed(current);
                }

                throw new DropboxException(ErrorKind.AlreadyExists, $"'{normalized}' is a file.");
            }

            EnsureParentsAreNotFiles(batch, ns.Id, normalized);
            var entry = new PathEntry
            {
                Path = normalized,
                Version = ++record!.Head,
                Kind = PathKind.Folder,
                ModifiedBy = deviceName,
                ServerTimeUnixMs = now,
                MtimeUnixMs = now,
            };
            ApplyVersion(batch, record, entry, now);
            AppendChange(batch, record, ChangeType.Folder, entry);
            return new Committed(entry);
        }).ConfigureAwait(false);
        return response;
    }

    private List<PathEntry> LiveDescendants(string ns, string folder)
    {
        var result = new List<PathEntry>();
        foreach (var (_, value) in _engine.ScanPrefix(_engine.Files, Keys.FilePrefix(ns, folder + "/")))
        {
            var current = StoredFormat.ReadFile(value).Current;
            if (!current.Deleted)
            {
                result.Add(current);
            }

            if (result.Count > Limits.MaxFolderOperationEntries)
            {
                break;
            }
        }

        return result;
    }

    private ulong Tombstone(RecordBatch batch, NamespaceRecord record, PathEntry current, string device, long now)
    {
        var sequence = ++record.Head;
        var tombstone = TombstoneOf(current, sequence, device, now);
        ApplyVersion(batch, record, tombstone, now);
        AppendChange(batch, record, ChangeType.Delete, tombstone);
        return sequence;
    }

    private static PathEntry TombstoneOf(PathEntry current, ulong sequence, string device, long now) => new()
    {
        Path = current.Path,
        Version = sequence,
        Deleted = true,
        Kind = current.Kind,
        ModifiedBy = device,
        ServerTimeUnixMs = now,
        MtimeUnixMs = current.MtimeUnixMs,
    };

    private static string KindName(PathKind kind) => kind == PathKind.Folder ? "folder" : "file";

    private static string ValidDevice(string? device)
    {
        device ??= string.Empty;
        if (Encoding.UTF8.GetByteCount(device) > Limits.MaxDeviceBytes)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"The device name is longer than {Limits.MaxDeviceBytes} bytes.");
        }

        return device;
    }
}
