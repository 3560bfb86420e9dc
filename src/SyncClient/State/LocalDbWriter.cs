using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The one writer of the local db during sync: every change a pass, the executor, the up- and downloaders, the daemon
/// or the folder check makes to the synced tree, the cursor, the withheld paths, the upload bookkeeping and the pass
/// settings goes through here, so what can change the merge base is one short list. <see cref="LocalState"/> stays
/// the storage (one connection, serialized by its lock); <c>LocalDbWriterTests</c> checks that no other sync code
/// calls its write methods (the login command's configuration writes excepted).
/// </summary>
internal sealed class LocalDbWriter(LocalState state)
{
    /// <summary>
    /// A test seam, null outside tests: called with a stable name right before and right after every write (both states
    /// are what a kill -9 can leave on disk), and by the sync code around its local renames and deletes
    /// (<see cref="Sync.SyncContext.Step"/>). The simulation crashes a device at these points; its argument is built only
    /// when the seam is set.
    /// </summary>
    internal Action<string>? Step { get; set; }

    /// <summary>Records a path as synced (file or folder), with its chunk list for files.</summary>
    public void RecordFile(FileRecord record, IReadOnlyList<ChunkRef>? chunks)
    {
        Step?.Invoke("before db record " + record.Path);
        state.PutFile(record, chunks);
        Step?.Invoke("after db record " + record.Path);
    }

    /// <summary>
    /// Records a file as synced with its chunk list and each chunk's fast hash (for the next read of a large file, see
    /// <see cref="FastHashList"/>; null: none).
    /// </summary>
    public void RecordFile(FileRecord record, IReadOnlyList<ChunkRef> chunks, IReadOnlyList<UInt128>? fastHashes)
    {
        Step?.Invoke("before db record " + record.Path);
        state.PutFile(record, chunks, fastHashes);
        Step?.Invoke("after db record " + record.Path);
    }

    /// <summary>Records many paths as synced in one transaction.</summary>
    public void RecordFiles(IReadOnlyList<(FileRecord Record, IReadOnlyList<ChunkRef>? Chunks)> files)
    {
        Step?.Invoke("before " + Many("db record", files.Select(f => f.Record.Path)));
        state.PutFiles(files);
        Step?.Invoke("after " + Many("db record", files.Select(f => f.Record.Path)));
    }

    /// <summary>Records many files as synced in one transaction, each with its chunks' fast hashes (null: none).</summary>
    public void RecordFiles(IReadOnlyList<(FileRecord Record, IReadOnlyList<ChunkRef>? Chunks, IReadOnlyList<UInt128>? FastHashes)> files)
    {
        Step?.Invoke("before " + Many("db record", files.Select(f => f.Record.Path)));
        state.PutFiles(files);
        Step?.Invoke("after " + Many("db record", files.Select(f => f.Record.Path)));
    }

    /// <summary>Records a folder as synced at <paramref name="version"/>.</summary>
    public void RecordFolder(string path, ulong version)
    {
        Step?.Invoke("before db record folder " + path);
        state.PutFile(new FileRecord(path, FileKind.Folder, 0, 0, version, []), null);
        Step?.Invoke("after db record folder " + path);
    }

    /// <summary>
    /// Records a file moved from <paramref name="from"/> to the path of <paramref name="to"/>, with the same bytes: its
    /// chunks' fast hashes move with it (a moved large file's next edit re-reads it with them; the stored list is checked
    /// against the new row's chunks when read, so a list that does not belong to them is never used). One transaction.
    /// </summary>
    public void RecordMove(string from, FileRecord to, IReadOnlyList<ChunkRef>? chunks)
    {
        Step?.Invoke("before db move " + from + " -> " + to.Path);
        state.MoveFile(from, to, chunks);
        Step?.Invoke("after db move " + from + " -> " + to.Path);
    }

    /// <summary>
    /// Records the rows a case-conflict rename moves (each as <see cref="RecordMove"/>), when not null the case-conflict
    /// memory <paramref name="caseFollowedMoves"/> (<see cref="StateKeys.CaseFollowedMoves"/>, with the remote deletes found
    /// for those rows), and the end of the rename's intent (<see cref="StateKeys.CaseRenameIntent"/> removed) in one
    /// transaction: a crash leaves neither or all (the rows moved with nothing remembered kept a file another device
    /// deleted here for good; the intent left after its rows moved would move them again).
    /// </summary>
    public void RecordMoves(IReadOnlyList<(string From, FileRecord To, IReadOnlyList<ChunkRef>? Chunks)> moves, string? caseFollowedMoves)
    {
        string What() => Many("db move", moves.Select(m => m.From + " -> " + m.To.Path)) + (caseFollowedMoves is null ? string.Empty : " and db case followed moves") + " and db case rename intent cleared";
        Step?.Invoke("before " + What());
        state.MoveFiles(moves, caseFollowedMoves is null ? [(StateKeys.CaseRenameIntent, null)] : [(StateKeys.CaseFollowedMoves, caseFollowedMoves), (StateKeys.CaseRenameIntent, null)]);
        Step?.Invoke("after " + What());
    }

    /// <summary>
    /// Sets the intent of a case-conflict rename about to be made here (<see cref="StateKeys.CaseRenameIntent"/>), or with
    /// null drops it (the rename failed here, or a crash left one that the next pass found not made).
    /// </summary>
    public void SetCaseRenameIntent(string? json)
    {
        Step?.Invoke("before " + (json is null ? "db case rename intent cleared" : "db case rename intent"));
        state.SetSetting(StateKeys.CaseRenameIntent, json);
        Step?.Invoke("after " + (json is null ? "db case rename intent cleared" : "db case rename intent"));
    }

    /// <summary>Updates only the recorded mtime and ctime (content verified unchanged; a null ctime: unknown).</summary>
    public void Touch(string path, long mtimeTicks, long? ctimeNs)
    {
        Step?.Invoke("before db touch " + path);
        state.TouchFile(path, mtimeTicks, ctimeNs);
        Step?.Invoke("after db touch " + path);
    }

    /// <summary>Records the ctimes the scan read of files found as synced whose recorded ctime was unknown.</summary>
    public void RecordUnknownChangeTimes(IReadOnlyList<(string Path, long Size, long MtimeTicks, long CtimeNs)> files)
    {
        Step?.Invoke("before " + Many("db ctimes", files.Select(f => f.Path)));
        state.SetUnknownChangeTimes(files);
        Step?.Invoke("after " + Many("db ctimes", files.Select(f => f.Path)));
    }

    /// <summary>Forgets a path (and its chunk index rows).</summary>
    public void Forget(string path)
    {
        Step?.Invoke("before db forget " + path);
        state.RemoveFile(path);
        Step?.Invoke("after db forget " + path);
    }

    /// <summary>Forgets every tracked path and the cursor (a folder taken as a new one).</summary>
    public void ResetSyncState()
    {
        Step?.Invoke("before db reset");
        state.ResetSyncState();
        Step?.Invoke("after db reset");
    }

    /// <summary>Sets the change-feed cursor (null: list everything next pass).</summary>
    public void SetCursor(string? cursor)
    {
        Step?.Invoke("before " + (cursor is null ? "db cursor cleared" : "db cursor"));
        state.SetSetting(StateKeys.Cursor, cursor);
        Step?.Invoke("after " + (cursor is null ? "db cursor cleared" : "db cursor"));
    }

    /// <summary>Replaces the set of withheld paths whose remote change still waits.</summary>
    public void SetWithheld(IReadOnlyCollection<string> paths)
    {
        Step?.Invoke("before " + Many("db withheld", paths.Order(StringComparer.Ordinal)));
        state.Withheld.Set(paths);
        Step?.Invoke("after " + Many("db withheld", paths.Order(StringComparer.Ordinal)));
    }

    /// <summary>Sets one synced file's executable bit (null: unknown).</summary>
    public void SetExecutableBit(string path, bool? executable)
    {
        Step?.Invoke("before db executable bit " + path);
        state.SetExecutableBit(path, executable);
        Step?.Invoke("after db executable bit " + path);
    }

    /// <summary>
    /// Stores the executable-bit probe's answer (<see cref="StateKeys.ExecutableBitHeld"/>); with <paramref name="resetRows"/>,
    /// first makes every synced file's bit unknown (in the same transaction).
    /// </summary>
    public void SetExecutableBitHeld(string answer, bool resetRows)
    {
        Step?.Invoke("before db executable bit held");
        if (resetRows)
        {
            state.ResetExecutableBits(answer);
        }
        else
        {
            state.SetSetting(StateKeys.ExecutableBitHeld, answer);
        }

        Step?.Invoke("after db executable bit held");
    }

    /// <summary>Sets (or with null, removes) the id of the folder this db syncs.</summary>
    public void SetFolderId(string? id)
    {
        Step?.Invoke("before db folder id");
        state.SetSetting(StateKeys.FolderId, id);
        Step?.Invoke("after db folder id");
    }

    /// <summary>
    /// Sets a pass's bookkeeping setting: only <see cref="StateKeys.LastSync"/>, <see cref="StateKeys.LastReconcile"/>
    /// or <see cref="StateKeys.LastSummary"/> (the cursor and the folder id have their own methods; nothing else is
    /// changed through here).
    /// </summary>
    public void SetPassSetting(string key, string? value)
    {
        if (key is not (StateKeys.LastSync or StateKeys.LastReconcile or StateKeys.LastSummary))
        {
            throw new ArgumentException($"'{key}' is not a pass setting (only {StateKeys.LastSync}, {StateKeys.LastReconcile} and {StateKeys.LastSummary} are); nothing was written.", nameof(key));
        }

        Step?.Invoke("before db " + key);
        state.SetSetting(key, value);
        Step?.Invoke("after db " + key);
    }

    /// <summary>
    /// Remembers the <c>.dropboxignore</c> files a completed pass read (<see cref="StateKeys.IgnoreFiles"/>, see
    /// Sync.IgnoreFileMemory) and their rules (<paramref name="files"/>), in one transaction.
    /// </summary>
    public void SetIgnoreFiles(string described, IReadOnlyCollection<(string Folder, RememberedRules Row)> files)
    {
        Step?.Invoke("before db ignore files");
        state.IgnoreRules.Set(described, files);
        Step?.Invoke("after db ignore files");
    }

    /// <summary>Sets (or with null, removes) the case-clash losers the server refused to rename (<see cref="StateKeys.CaseRefusedOnServer"/>).</summary>
    public void SetCaseRefusedOnServer(string? json)
    {
        Step?.Invoke("before db case refusals");
        state.SetSetting(StateKeys.CaseRefusedOnServer, json);
        Step?.Invoke("after db case refusals");
    }

    /// <summary>Sets (or with null, removes) the remote moves followed case-conflict renames not made yet follow (<see cref="StateKeys.CaseFollowedMoves"/>).</summary>
    public void SetCaseFollowedMoves(string? json)
    {
        Step?.Invoke("before db case followed moves");
        state.SetSetting(StateKeys.CaseFollowedMoves, json);
        Step?.Invoke("after db case followed moves");
    }

    /// <summary>Sets (or with null, removes) the remote files kept at a folder that holds the state directory (<see cref="StateKeys.FilesAboveStateDirectory"/>).</summary>
    public void SetFilesAboveStateDirectory(string? json)
    {
        Step?.Invoke("before db files above the state directory");
        state.SetSetting(StateKeys.FilesAboveStateDirectory, json);
        Step?.Invoke("after db files above the state directory");
    }

    /// <summary>Notes that a whole listing was kept for the state directory at <paramref name="reserved"/> (<see cref="StateKeys.FilesAboveStateDirectoryListed"/>).</summary>
    public void SetFilesAboveStateDirectoryListed(string reserved)
    {
        Step?.Invoke("before db files above the state directory listed");
        state.SetSetting(StateKeys.FilesAboveStateDirectoryListed, reserved);
        Step?.Invoke("after db files above the state directory listed");
    }

    /// <summary>Notes an upload in progress (resume bookkeeping).</summary>
    public void BeginUpload(string path, long size, long mtimeTicks, int chunksTotal)
    {
        Step?.Invoke("before db upload begins " + path);
        state.Uploads.Begin(path, size, mtimeTicks, chunksTotal);
        Step?.Invoke("after db upload begins " + path);
    }

    /// <summary>Adds to the count of chunks an upload has sent.</summary>
    public void AddUploadProgress(string path, int chunks)
    {
        Step?.Invoke("before db upload progress " + path);
        state.Uploads.AddProgress(path, chunks);
        Step?.Invoke("after db upload progress " + path);
    }

    /// <summary>Removes the upload bookkeeping for a path.</summary>
    public void EndUpload(string path)
    {
        Step?.Invoke("before db upload ends " + path);
        state.Uploads.End(path);
        Step?.Invoke("after db upload ends " + path);
    }

    /// <summary>A step name for a write of many paths: the count and the first (in the given order) name it.</summary>
    private static string Many(string what, IEnumerable<string> paths)
    {
        var list = paths.ToList();
        return list.Count == 0 ? what + " (none)" : $"{what} {list.Count}: {list[0]}{(list.Count > 1 ? ", ..." : string.Empty)}";
    }
}
