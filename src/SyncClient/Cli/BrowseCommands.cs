using System.Globalization;
using System.Text.Json;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Paths;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// The verbs that look at the account and the folder and bring versions back: status, ls, history, restore (a file, or
/// every deleted file under a folder), conflicts and link. Login and sync, the verbs that set up and run syncing, are
/// <see cref="ClientApp"/>'s, which parses the command line and dispatches here.
/// </summary>
internal sealed class BrowseCommands(TextWriter output, TextWriter error)
{
    private readonly TextWriter _out = output;
    private readonly TextWriter _err = error;

    public async Task<int> StatusAsync(CliArgs args, CancellationToken ct)
    {
        using var session = ClientSession.Open(ClientSession.ResolveStateDirectory(args));
        var s = session.State;
        var folderMissing = !Directory.Exists(session.Folder);
        var daemonRunning = PassLock.IsDaemonRunning(s.StateDirectory);
        var paused = daemonRunning && File.Exists(Path.Combine(s.StateDirectory, SyncDaemon.PausedFile));
        var unfinished = s.Uploads.Pending().ToList();
        var last = s.GetSetting(StateKeys.LastSummary);
        GetAccountResponse? account = null;
        string? accountError = null;
        try
        {
            account = await session.Metadata.GetAccountAsync(ct).ConfigureAwait(false);
        }
        catch (DropboxException e)
        {
            accountError = e.Message;
        }

        if (args.Flag("json"))
        {
            WriteJson(new Dictionary<string, object?>
            {
                ["folder"] = session.Folder,
                ["folderMissing"] = folderMissing,
                ["server"] = session.Server,
                ["trusts"] = ClientSession.TrustFrom(s).Description,
                ["device"] = session.Device,
                ["state"] = s.StateDirectory,
                ["trackedFiles"] = s.CountFiles(),
                ["lastSync"] = s.GetSetting(StateKeys.LastSync),
                ["daemonRunning"] = daemonRunning,
                ["daemonPaused"] = paused,
                ["unfinishedUploads"] = unfinished.Select(u => new Dictionary<string, object> { ["path"] = u.Path, ["chunks"] = u.Total, ["chunksSent"] = u.Done }).ToList(),
                ["lastPass"] = last is null ? null : TryParseJson(last),
                ["account"] = account is null ? null : new Dictionary<string, object> { ["user"] = account.User, ["namespace"] = account.NamespaceId, ["files"] = account.FileCount, ["bytes"] = account.TotalBytes },
                ["accountError"] = accountError,
            });
            return ExitCodes.Ok;
        }

        _out.WriteLine($"folder:     {session.Folder}{(folderMissing ? "  (MISSING)" : string.Empty)}");
        _out.WriteLine($"server:     {session.Server}");
        _out.WriteLine($"trusts:     {ClientSession.TrustFrom(s).Description}");
        _out.WriteLine($"device:     {session.Device}");
        _out.WriteLine($"state:      {s.StateDirectory}");
        _out.WriteLine($"tracked:    {s.CountFiles()} files");
        _out.WriteLine($"last sync:  {s.GetSetting(StateKeys.LastSync) ?? "never"}");
        _out.WriteLine($"daemon:     {(daemonRunning ? (paused ? "running, paused ('sync --resume' resumes)" : "running") : "not running")}");
        foreach (var (path, total, done) in unfinished)
        {
            _out.WriteLine($"unfinished upload: {path} ({done}/{total} chunks sent)");
        }

        if (last is not null)
        {
            _out.WriteLine($"last pass:  {last}");
        }

        _out.WriteLine(account is not null
            ? $"account:    {SyncPaths.Display(account.User)}, {account.FileCount} files, {Format.Bytes(account.TotalBytes)}"
            : $"account:    unreachable ({SyncPaths.Display(accountError ?? string.Empty, int.MaxValue)})");
        return ExitCodes.Ok;
    }

    public async Task<int> ListAsync(CliArgs args, CancellationToken ct)
    {
        using var session = ClientSession.Open(ClientSession.ResolveStateDirectory(args));
        var prefix = args.Positional.Count > 0 ? PathRules.Normalize(args.Positional[0].Trim('/')) : string.Empty;
        var json = args.Flag("json");
        var deleted = args.Flag("deleted");
        var underPrefix = false;
        // Page by page, printed as it arrives (in path order), so a large account lists in constant memory.
        await foreach (var listing in RemoteChanges.ListFilesPagedAsync(session.Metadata, prefix, includeDeleted: deleted, RemoteChanges.MaxPages, ct).ConfigureAwait(false))
        {
            underPrefix |= listing.Entries.Count > 0;
            foreach (var e in listing.Entries)
            {
                if (deleted == e.Deleted)
                {
                    WriteListed(e, json, deleted); // --deleted: only what was deleted (and can be restored); else only what exists
                }
            }
        }

        return prefix.Length == 0 || underPrefix ? ExitCodes.Ok : await ListPathItselfAsync(session, prefix, json, deleted, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>ls PATH</c> where nothing is under PATH: the listing is of a folder's contents, so PATH is a file, an empty
    /// folder, deleted, or not there; its newest version says which. A file is listed as the whole listing shows it (as
    /// <c>ls FILE</c> does); an empty folder lists nothing; a path that does not exist (or, without --deleted, was deleted)
    /// is an error.
    /// </summary>
    private async Task<int> ListPathItselfAsync(ClientSession session, string path, bool json, bool deleted, CancellationToken ct)
    {
        FileEntry newest;
        try
        {
            newest = (await session.Metadata.ListVersionsAsync(new ListVersionsRequest { Path = path }, ct).ConfigureAwait(false)).Versions.FirstOrDefault()
                ?? throw NotOnServer(path);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
        {
            throw NotOnServer(path);
        }

        if (newest.Path != path)
        {
            throw NotOnServer(path); // the server's answer is for another path: nothing to show for this one
        }

        if (newest.Deleted && !deleted)
        {
            throw new DropboxException(ErrorKind.NotFound,
                $"'{SyncPaths.Display(path)}' was deleted: 'ls {SyncPaths.Display(path)} --deleted' shows it, 'restore {SyncPaths.Display(path)}' brings it back.");
        }

        if (newest.Deleted == deleted && (newest.Kind != EntryKind.Folder || deleted))
        {
            WriteListed(newest, json, deleted);
        }

        return ExitCodes.Ok;
    }

    private static DropboxException NotOnServer(string path) =>
        new(ErrorKind.NotFound, $"'{SyncPaths.Display(path)}' is not on the server (no file or folder at that path; 'ls' lists what is).");

    /// <summary>One entry of <c>ls</c>: a JSON object, or a line (size or &lt;dir&gt; or "deleted", time, version, path).</summary>
    private void WriteListed(FileEntry e, bool json, bool deleted)
    {
        if (json)
        {
            WriteJson(new Dictionary<string, object>
            {
                ["path"] = e.Path,
                ["kind"] = e.Kind == EntryKind.Folder ? "folder" : "file",
                ["size"] = e.Size,
                ["version"] = e.Version,
                ["mtimeUnixMs"] = e.MtimeUnixMs,
                ["deleted"] = e.Deleted,
            });
            return;
        }

        var when = RemoteBounds.FormatTime(deleted && e.ServerTimeUnixMs > 0 ? e.ServerTimeUnixMs : e.MtimeUnixMs, "yyyy-MM-dd HH:mm");
        if (deleted)
        {
            _out.WriteLine($"{"deleted",12}  {when}  v{e.Version,-6} {SyncPaths.Display(e.Path, int.MaxValue)}{(e.Kind == EntryKind.Folder ? "/" : string.Empty)}");
            return;
        }

        _out.WriteLine(e.Kind == EntryKind.Folder
            ? $"{"<dir>",12}  {"",16}  v{e.Version,-6} {SyncPaths.Display(e.Path, int.MaxValue)}/"
            : $"{e.Size,12}  {when}  v{e.Version,-6} {SyncPaths.Display(e.Path, int.MaxValue)}");
    }

    public async Task<int> HistoryAsync(CliArgs args, CancellationToken ct)
    {
        var path = RequirePath(args);
        using var session = ClientSession.Open(ClientSession.ResolveStateDirectory(args));
        var versions = await session.Metadata.ListVersionsAsync(new ListVersionsRequest { Path = path }, ct).ConfigureAwait(false);
        foreach (var v in versions.Versions)
        {
            var time = v.ServerTimeUnixMs > 0 ? v.ServerTimeUnixMs : v.MtimeUnixMs;
            if (args.Flag("json"))
            {
                WriteJson(new Dictionary<string, object>
                {
                    ["path"] = path,
                    ["version"] = v.Version,
                    ["timeUnixMs"] = time,
                    ["size"] = v.Size,
                    ["deleted"] = v.Deleted,
                    ["modifiedBy"] = v.ModifiedBy,
                    ["damaged"] = v.Damaged,
                });
                continue;
            }

            var when = RemoteBounds.FormatTime(time, "yyyy-MM-dd HH:mm:ss");
            _out.WriteLine($"v{v.Version,-8} {when}  {(v.Deleted ? "deleted" : v.Size.ToString(CultureInfo.InvariantCulture) + " bytes"),-16} {SyncPaths.Display(v.ModifiedBy)}{(v.Damaged ? "  DAMAGED (a chunk has no intact copy left; restore another version or upload it again)" : string.Empty)}");
        }

        return ExitCodes.Ok;
    }

    public async Task<int> RestoreAsync(CliArgs args, CancellationToken ct)
    {
        var path = RequirePath(args);
        using var session = ClientSession.Open(ClientSession.ResolveStateDirectory(args));
        var version = (ulong)(args.IntOption("version") ?? 0);
        var json = args.Flag("json");
        RestoreResponse restored;
        try
        {
            restored = await session.Metadata.RestoreAsync(new RestoreRequest { Path = path, Version = version, Device = session.Device }, ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.NotFound && version == 0)
        {
            // A folder has no versions of its own: restoring it brings back every deleted file under it.
            return await RestoreFolderAsync(session, path, json, e, ct).ConfigureAwait(false);
        }

        var newVersion = restored.Entry?.Version ?? restored.Sequence;
        var size = restored.Entry?.Size ?? 0;
        if (json)
        {
            WriteJson(new Dictionary<string, object> { ["path"] = path, ["version"] = newVersion, ["size"] = size });
            return ExitCodes.Ok;
        }

        _out.WriteLine($"Restored '{path}' as version {newVersion} ({size} bytes). It arrives with the next sync.");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Restores the newest kept version of every deleted file under <paramref name="folder"/>, one by one through the
    /// same Restore call as a file (a file restored meanwhile by someone else is reported and skipped).
    /// <paramref name="notFound"/> is the error for the path itself, rethrown when nothing under it was deleted.
    /// </summary>
    private async Task<int> RestoreFolderAsync(ClientSession session, string folder, bool json, DropboxException notFound, CancellationToken ct)
    {
        var deleted = new List<string>();
        await foreach (var listing in RemoteChanges.ListFilesPagedAsync(session.Metadata, folder, includeDeleted: true, RemoteChanges.MaxPages, ct).ConfigureAwait(false))
        {
            deleted.AddRange(listing.Entries
                .Where(e => e.Deleted && e.Kind != EntryKind.Folder && e.Path.StartsWith(folder + "/", StringComparison.Ordinal))
                .Select(e => e.Path));
        }

        if (deleted.Count == 0)
        {
            throw notFound;
        }

        var failed = 0;
        var skipped = 0;
        foreach (var path in deleted)
        {
            try
            {
                // Only if still deleted, checked by the server in the same write: a file that came back since the
                // listing (another device, another restore) is skipped, never overwritten with an older version.
                var restored = await session.Metadata.RestoreAsync(new RestoreRequest { Path = path, Device = session.Device, OnlyIfDeleted = true }, ct).ConfigureAwait(false);
                var version = restored.Entry?.Version ?? restored.Sequence;
                var size = restored.Entry?.Size ?? 0;
                if (json)
                {
                    WriteJson(new Dictionary<string, object> { ["path"] = path, ["version"] = version, ["size"] = size });
                }
                else
                {
                    _out.WriteLine($"Restored '{SyncPaths.Display(path, int.MaxValue)}' as version {version} ({size} bytes).");
                }
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.AlreadyExists)
            {
                skipped++;
                _err.WriteLine($"skipped: '{SyncPaths.Display(path, int.MaxValue)}': {SyncPaths.Display(e.Message, int.MaxValue)}");
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.Conflict)
            {
                failed++;
                _err.WriteLine($"error: '{SyncPaths.Display(path, int.MaxValue)}' not restored: {SyncPaths.Display(e.Message, int.MaxValue)}");
            }
        }

        if (!json)
        {
            _out.WriteLine($"Restored {deleted.Count - failed - skipped} of {deleted.Count} deleted file(s) under '{folder}'{(skipped > 0 ? $" ({skipped} skipped: live again since the listing)" : string.Empty)}. They arrive with the next sync.");
        }

        return failed == 0 ? ExitCodes.Ok : ExitCodes.Errors;
    }

    public int Conflicts(CliArgs args)
    {
        using var session = ClientSession.Open(ClientSession.ResolveStateDirectory(args));
        var json = args.Flag("json");
        var found = 0;
        if (Directory.Exists(session.Folder))
        {
            var snapshot = new LocalScanner(session.Folder, IgnoreMatcher.BuiltIn, session.State.StateDirectory) { Stability = Stability.Off }.Scan(CancellationToken.None);
            foreach (var path in snapshot.Entries.Keys.Where(ConflictNames.IsConflictedCopy).OrderBy(p => p, StringComparer.Ordinal))
            {
                if (json)
                {
                    WriteJson(new Dictionary<string, object> { ["path"] = path });
                }
                else
                {
                    _out.WriteLine(path);
                }

                found++;
            }
        }

        if (!json)
        {
            _out.WriteLine(found == 0 ? "No conflicted copies." : $"{found} conflicted cop{(found == 1 ? "y" : "ies")}: compare each with its original, keep what you want, delete the rest.");
        }

        return ExitCodes.Ok;
    }

    public async Task<int> LinkAsync(CliArgs args, CancellationToken ct)
    {
        var path = RequirePath(args);
        var json = args.Flag("json");
        var perChunk = args.Flag("chunks");
        var lifetime = args.DurationOption("expires") ?? TimeSpan.Zero;
        if (lifetime != TimeSpan.Zero && (lifetime < TimeSpan.FromSeconds(1) || lifetime > TimeSpan.FromDays(7)))
        {
            throw new UsageException($"--expires must be between 1s and 7d, got {lifetime}.");
        }

        var version = (ulong)(args.IntOption("version") ?? 0);
        using var session = ClientSession.Open(ClientSession.ResolveStateDirectory(args));
        var link = await session.Metadata.CreateLinkAsync(new CreateLinkRequest { Path = path, Version = version, LifetimeSeconds = (uint)lifetime.TotalSeconds }, ct).ConfigureAwait(false);
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(link.ExpiresUnixMs);
        if (!json)
        {
            _out.WriteLine(SyncPaths.Display(link.Url, int.MaxValue));
            _err.WriteLine($"# {SyncPaths.Display(link.Entry.Path, int.MaxValue)} v{link.Entry.Version}, {link.Entry.Size} bytes; the link expires {expires.ToLocalTime():yyyy-MM-dd HH:mm:ss zzz}.");
        }

        // The per-chunk listing (--chunks, and always in JSON, whose "chunks" field older scripts read) names the same
        // version as the link.
        var chunks = new List<Dictionary<string, object?>>();
        if (perChunk || json)
        {
            if (!json)
            {
                _out.WriteLine("# offset length encoding url   (concatenate the decoded chunks in order to rebuild the file)");
            }

            var plan = await session.Metadata.GetDownloadPlanAsync(DownloadPlans.FirstPage(path, link.Entry.Version), ct).ConfigureAwait(false);
            long offset = 0;
            await foreach (var get in DownloadPlans.ChunksAsync(session.Metadata, path, plan, ct).ConfigureAwait(false))
            {
                var chunk = get.Chunk.ToDomain();
                var url = get.Nodes.Count > 0 && get.Tokens.Count > 0
                    ? $"{get.Nodes[0].HttpUrl.TrimEnd('/')}/chunks/{chunk.Id}?token={Uri.EscapeDataString(get.Tokens[0])}"
                    : null;
                var encoding = chunk.Encoding.ToString().ToLowerInvariant();
                if (json)
                {
                    chunks.Add(new Dictionary<string, object?> { ["offset"] = offset, ["length"] = chunk.Size, ["encoding"] = encoding, ["url"] = url });
                }
                else
                {
                    _out.WriteLine($"{offset} {chunk.Size} {encoding} {SyncPaths.Display(url ?? "(no node holds this chunk)", int.MaxValue)}");
                }

                offset += chunk.Size;
            }
        }

        if (json)
        {
            WriteJson(new Dictionary<string, object>
            {
                ["path"] = link.Entry.Path,
                ["version"] = link.Entry.Version,
                ["size"] = link.Entry.Size,
                ["url"] = link.Url,
                ["expiresUnixMs"] = link.ExpiresUnixMs,
                ["chunks"] = chunks,
            });
        }

        return ExitCodes.Ok;
    }

    /// <summary>One JSON object on one line of stdout (the documented shapes: README, "Client output as JSON").</summary>
    private void WriteJson(object value) => _out.WriteLine(JsonLine.Of(value));

    private static JsonElement? TryParseJson(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string RequirePath(CliArgs args)
    {
        if (args.Positional.Count == 0)
        {
            throw new UsageException($"'{args.Verb}' needs a PATH (relative to the sync folder).");
        }

        return PathRules.Normalize(args.Positional[0].Replace('\\', '/').Trim('/'));
    }
}
