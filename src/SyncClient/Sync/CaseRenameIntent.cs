using System.Text.Json;
using Dropbox.Shared.Chunks;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The write-ahead intent of a case-conflict rename whose synced rows follow it (<see cref="LocalCaseRenames"/>: renamed
/// on the server, or following another device's move there): written to the db (<see cref="StateKeys.CaseRenameIntent"/>)
/// right before the rename here, with all the rows' move needs (each row's new path and version, as
/// <see cref="LocalCaseRenames.RowsToMove"/> planned them from the pass's server moves, listing and view, and the remote
/// deletes found for them, <see cref="LocalCaseRenames.GoneBeforeMove"/>), and removed in the one transaction that moves
/// the rows (<see cref="LocalDbWriter.RecordMoves"/>). A crash between the rename here and that transaction left the rows
/// at the old name and the files at the new one: the next pass took the files for new ones and sent them, a file another
/// device deleted on the server before the move among them (its delete undone; review ag51). The next pass resolves a
/// pending intent before anything else reads the db (<see cref="Resolve"/>): the moves it holds are finished where the
/// rename was made, or where no file can be given a wrong row, and it is dropped otherwise (<see cref="Decide"/>). Nothing
/// is matched by content (review rd51b: a user's own copy at the new name was taken for the synced files): the folder
/// renamed is known by its inode and birth time, read right before the rename.
/// </summary>
/// <param name="Path">The name renamed (the clash's loser).</param>
/// <param name="Target">Its new name.</param>
/// <param name="IsDirectory">A folder (else a file).</param>
/// <param name="Identity">The device, inode and birth time of what was at <paramref name="Path"/> right before the rename (a rename keeps inode and birth time); null where not read.</param>
/// <param name="Rows">The row moves planned.</param>
/// <param name="Gone">The remote deletes remembered with them (at their new paths).</param>
internal sealed record CaseRenameIntent(string Path, string Target, bool IsDirectory, CaseRenameIntent.Thing? Identity, IReadOnlyList<CaseRenameIntent.Row> Rows,
    IReadOnlyList<RemoteEntry> Gone)
{
    /// <summary>One row's move: from its synced path (where its row was at <paramref name="FromVersion"/>) to <paramref name="To"/> at <paramref name="Version"/>.</summary>
    internal readonly record struct Row(string From, string To, ulong FromVersion, ulong Version);

    /// <summary>
    /// What names one file or folder here: its device and inode, and its birth time where the file system keeps one.
    /// </summary>
    internal readonly record struct Thing(ulong Device, ulong Inode, long? BirthNs)
    {
        /// <summary>
        /// Surely the same thing: inode numbers and birth times equal, both birth times known. An inode number alone tells
        /// nothing (a number freed is given again at once: ext4 gives a folder deleted and made again at the new name the
        /// renamed one's), so where either birth time is missing (ext2/3, ext4 with 128-byte inodes, NFS) it cannot be
        /// told. The device is not compared: its number may change across the reboot after a power loss (an LVM/dm minor,
        /// a btrfs subvolume's or an overlay's numbered at mount), while inode and birth time are the file system's own.
        /// </summary>
        public bool SurelyIs(Thing other) => BirthNs is { } b && other.BirthNs is { } o && b == o && Inode == other.Inode;
    }

    /// <summary>What is at a name here: its kind and, where read, what it is (<see cref="Thing"/>).</summary>
    internal readonly record struct Seen(bool Exists, bool IsDirectory, bool IsFile, Thing? Identity)
    {
        /// <summary>What is at <paramref name="full"/> now (a link not followed); where statx cannot be read, its kind alone.</summary>
        public static Seen At(string full)
        {
            if (FileChangeTime.TryStat(full) is { } stat)
            {
                return new Seen(stat.Exists, stat.IsDirectory, stat.IsRegularFile,
                    stat.Exists && FileChangeTime.TryIdentityAndBirth(full) is { } id ? new Thing(id.Device, id.Inode, id.BirthNs) : null);
            }

            var info = new FileInfo(full);
            var isLink = info.Exists && info.LinkTarget is not null || Directory.Exists(full) && new DirectoryInfo(full).LinkTarget is not null;
            return new Seen(info.Exists || Directory.Exists(full), !isLink && Directory.Exists(full), !isLink && info.Exists, null);
        }
    }

    /// <summary>
    /// Whether the rows' moves of <paramref name="intent"/> are to be finished, from what is at its two names now (pure).
    /// Finished where:
    /// the new name holds the very thing renamed (<see cref="Thing.SurelyIs"/>), whatever is at the old name since (a
    /// folder the user made there again is new: the rows go where their files are);
    /// neither name holds anything (what was renamed was deleted or moved away here since): no file can be given a wrong
    /// row, and the next pass sees the rows' paths gone here, as local deletes, or as a move where it matches one (left
    /// at the old name, the rows' files were fetched back from the new one on the server);
    /// a FILE was renamed, the new name holds a file and the old name nothing (an editor's save after the crash, a temp
    /// file renamed over it, has another inode): its one row is compared with the file's content by the next pass as any
    /// row, so other content is an edit (sent, or a conflicted copy where the server changed too), never lost; a remote
    /// delete remembered for it loses to that edit (the planner keeps a local edit over a remote delete). Dropped, it was
    /// the old bytes fetched beside the edit. Only where statx is read (<see cref="Seen.Identity"/> known): without it
    /// "as synced" is size and mtime alone, so another file of the same size and mtime (a `cp -p`, an archive's) given the
    /// row was taken as unchanged and a download overwrote it (review in53b); dropped there, it is a new file (kept).
    /// Dropped otherwise, with why: the old name still holds it (the crash came before the rename: the pass goes on as
    /// after a crash between the server's move and the rename here, which it handles); the new name holds something else,
    /// or a folder that cannot be told from one made there since (no birth time, no statx), or a file without statx, or
    /// nothing while the old name holds something: giving a folder there the rows could delete a user's own file in it (a
    /// remembered remote delete applied to it) or send its bytes as an edit of a synced file, so the rows stay where they
    /// are, and the files at the new name are new (kept and sent, never deleted here; a file another device deleted before
    /// the move may then come back, as before the intent: no byte lost).
    /// </summary>
    internal static (bool Made, string Why) Decide(CaseRenameIntent intent, Seen path, Seen target)
    {
        bool IsRenamed(Seen seen) => seen.Exists && intent.Identity is { } renamed && seen.Identity is { } there && there.SurelyIs(renamed);
        if (IsRenamed(target))
        {
            return (true, path.Exists ? "the new name holds what was renamed (the old name holds something made since)" : "the new name holds what was renamed");
        }

        if (IsRenamed(path))
        {
            return (false, "the old name still holds what was to be renamed");
        }

        if (!target.Exists && !path.Exists)
        {
            return (true, "neither name holds anything (what was renamed was deleted or moved away here since)");
        }

        if (!intent.IsDirectory && target.IsFile && !path.Exists && target.Identity is not null)
        {
            return (true, "the new name holds a file and the old name nothing (its content is compared with the row's: another one is an edit)");
        }

        var ofKind = intent.IsDirectory ? target.IsDirectory : target.IsFile;
        return (false, !target.Exists ? "the new name holds nothing"
            : !ofKind || intent.Identity is { BirthNs: not null } && target.Identity is { BirthNs: not null } ? "the new name holds something else"
            : path.Exists ? "both names hold something, and which was renamed cannot be told"
            : intent.IsDirectory ? "the new name holds a folder that cannot be told from one made there since (no birth time to go by)"
            : "the new name holds a file whose content cannot be told from the row's (no statx: size and mtime alone)");
    }

    /// <summary>
    /// Resolves the intent a crash left (none: nothing to do; null returned), at the start of a pass and before anything
    /// reads the db: made (<see cref="Decide"/>), its rows are moved as planned, with the remote deletes remembered
    /// (<see cref="FollowedCaseMoves.RememberedWithGone"/>: this pass's view takes them), in the one transaction that removes
    /// it, exactly as the crashed pass would have. A row is moved only where it is still in the db at the old path; one
    /// found at another version than planned from keeps its own. Not made, or unreadable, it is dropped, and the pass goes
    /// on as it did without one. Returns what was done, for the pass's notes.
    /// </summary>
    internal static string? Resolve(SyncContext ctx, FollowedCaseMoves followed)
    {
        if (ctx.State.GetSetting(StateKeys.CaseRenameIntent) is not { } json)
        {
            return null;
        }

        if (Load(json) is not { } intent)
        {
            ctx.Db.SetCaseRenameIntent(null);
            return "case conflict: the intent of a case-conflict rename a stopped pass left could not be read; dropped (its rows stay where they are)";
        }

        var (made, why) = Decide(intent, Seen.At(ctx.FullPath(intent.Path)), Seen.At(ctx.FullPath(intent.Target)));
        if (!made)
        {
            ctx.Db.SetCaseRenameIntent(null);
            return $"case conflict: a stopped pass was renaming '{intent.Path}' to '{intent.Target}'; {why}, so its synced rows stay at the old name";
        }

        var moves = MovesOf(ctx.State, intent.Rows);
        ctx.Db.RecordMoves(moves, followed.RememberedWithGone(intent.Gone));
        return $"case conflict: a stopped pass renamed '{intent.Path}' to '{intent.Target}' here; {why}, so its {moves.Count} synced rows are moved there now";
    }

    /// <summary>
    /// The db moves of <paramref name="rows"/> (<see cref="LocalDbWriter.RecordMoves"/>), for the pass that renames and for
    /// the one that finishes a crashed rename alike: each row still in the db at its old path, moved with its chunks (a
    /// file's), at the version planned where it is still at the version planned from, else keeping its own.
    /// </summary>
    internal static List<(string From, FileRecord To, IReadOnlyList<ChunkRef>? Chunks)> MovesOf(LocalState state, IEnumerable<Row> rows)
    {
        var moves = new List<(string From, FileRecord To, IReadOnlyList<ChunkRef>? Chunks)>();
        foreach (var row in rows)
        {
            if (state.GetFile(row.From) is { } record)
            {
                moves.Add((row.From, record with { Path = row.To, Version = record.Version == row.FromVersion ? row.Version : record.Version }, record.Kind == FileKind.File ? state.GetChunks(row.From) : null));
            }
        }

        return moves;
    }

    /// <summary>The intent as stored.</summary>
    internal string Save()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("path", Path);
            w.WriteString("target", Target);
            w.WriteBoolean("directory", IsDirectory);
            if (Identity is { } identity)
            {
                w.WriteNumber("device", identity.Device);
                w.WriteNumber("inode", identity.Inode);
                if (identity.BirthNs is { } birth)
                {
                    w.WriteNumber("birth", birth);
                }
            }

            w.WriteStartArray("rows");
            foreach (var row in Rows)
            {
                w.WriteStartObject();
                w.WriteString("from", row.From);
                w.WriteString("to", row.To);
                w.WriteNumber("fromVersion", row.FromVersion);
                w.WriteNumber("version", row.Version);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WritePropertyName("gone");
            w.WriteRawValue(FollowedCaseMoves.Save(Gone));
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The stored intent; null when it cannot be read whole (then dropped: a part of it would move some rows and not others).</summary>
    internal static CaseRenameIntent? Load(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var rows = new List<Row>();
            foreach (var r in root.GetProperty("rows").EnumerateArray())
            {
                rows.Add(new Row(r.GetProperty("from").GetString() ?? throw new FormatException("a row without its path"), r.GetProperty("to").GetString() ?? throw new FormatException("a row without its new path"),
                    r.GetProperty("fromVersion").GetUInt64(), r.GetProperty("version").GetUInt64()));
            }

            var goneJson = root.GetProperty("gone");
            var gone = FollowedCaseMoves.Load(goneJson.GetRawText());
            if (gone.Count != goneJson.GetArrayLength())
            {
                throw new FormatException("a remembered delete that cannot be read");
            }

            Thing? identity = root.TryGetProperty("inode", out var inode)
                ? new Thing(root.GetProperty("device").GetUInt64(), inode.GetUInt64(), root.TryGetProperty("birth", out var birth) ? birth.GetInt64() : null)
                : null;
            return new CaseRenameIntent(root.GetProperty("path").GetString() ?? throw new FormatException("no path"), root.GetProperty("target").GetString() ?? throw new FormatException("no target"),
                root.GetProperty("directory").GetBoolean(), identity, rows, gone);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }
}
