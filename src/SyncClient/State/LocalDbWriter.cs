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
    /// <summary>Records a path as synced (file or folder), with its chunk list for files.</summary>
    public void RecordFile(FileRecord record, IReadOnlyList<ChunkRef>? chunks) => state.PutFile(record, chunks);

    /// <summary>
    /// Records a file as synced with its chunk list and each chunk's fast hash (for the next read of a large file, see
    /// <see cref="FastHashList"/>; null: none).
    /// </summary>
    public void RecordFile(FileRecord record, IReadOnlyList<ChunkRef> chunks, IReadOnlyList<UInt128>? fastHashes) => state.PutFile(record, chunks, fastHashes);

    /// <summary>Records many paths as synced in one transaction.</summary>
    public void RecordFiles(IReadOnlyList<(FileRecord Record, IReadOnlyList<ChunkRef>? Chunks)> files) => state.PutFiles(files);

    /// <summary>Records many files as synced in one transaction, each with its chunks' fast hashes (null: none).</summary>
    public void RecordFiles(IReadOnlyList<(FileRecord Record, IReadOnlyList<ChunkRef>? Chunks, IReadOnlyList<UInt128>? FastHashes)> files) => state.PutFiles(files);

    /// <summary>Records a folder as synced at <paramref name="version"/>.</summary>
    public void RecordFolder(string path, ulong version) => state.PutFile(new FileRecord(path, FileKind.Folder, 0, 0, version, []), null);

    /// <summary>
    /// Records a file moved from <paramref name="from"/> to the path of <paramref name="to"/>, with the same bytes: its
    /// chunks' fast hashes move with it (a moved large file's next edit re-reads it with them; the stored list is checked
    /// against the new row's chunks when read, so a list that does not belong to them is never used). One transaction.
    /// </summary>
    public void RecordMove(string from, FileRecord to, IReadOnlyList<ChunkRef>? chunks) => state.MoveFile(from, to, chunks);

    /// <summary>Updates only the recorded mtime and ctime (content verified unchanged; a null ctime: unknown).</summary>
    public void Touch(string path, long mtimeTicks, long? ctimeNs) => state.TouchFile(path, mtimeTicks, ctimeNs);

    /// <summary>Records the ctimes the scan read of files found as synced whose recorded ctime was unknown.</summary>
    public void RecordUnknownChangeTimes(IReadOnlyList<(string Path, long Size, long MtimeTicks, long CtimeNs)> files) => state.SetUnknownChangeTimes(files);

    /// <summary>Forgets a path (and its chunk index rows).</summary>
    public void Forget(string path) => state.RemoveFile(path);

    /// <summary>Forgets every tracked path and the cursor (a folder taken as a new one).</summary>
    public void ResetSyncState() => state.ResetSyncState();

    /// <summary>Sets the change-feed cursor (null: list everything next pass).</summary>
    public void SetCursor(string? cursor) => state.SetSetting(StateKeys.Cursor, cursor);

    /// <summary>Replaces the set of withheld paths whose remote change still waits.</summary>
    public void SetWithheld(IReadOnlyCollection<string> paths) => state.SetWithheld(paths);

    /// <summary>Sets one synced file's executable bit (null: unknown).</summary>
    public void SetExecutableBit(string path, bool? executable) => state.SetExecutableBit(path, executable);

    /// <summary>
    /// Stores the executable-bit probe's answer (<see cref="StateKeys.ExecutableBitHeld"/>); with <paramref name="resetRows"/>,
    /// first makes every synced file's bit unknown (in the same transaction).
    /// </summary>
    public void SetExecutableBitHeld(string answer, bool resetRows)
    {
        if (resetRows)
        {
            state.ResetExecutableBits(answer);
        }
        else
        {
            state.SetSetting(StateKeys.ExecutableBitHeld, answer);
        }
    }

    /// <summary>Sets (or with null, removes) the id of the folder this db syncs.</summary>
    public void SetFolderId(string? id) => state.SetSetting(StateKeys.FolderId, id);

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

        state.SetSetting(key, value);
    }

    /// <summary>Notes an upload in progress (resume bookkeeping).</summary>
    public void BeginUpload(string path, long size, long mtimeTicks, int chunksTotal) => state.BeginUpload(path, size, mtimeTicks, chunksTotal);

    /// <summary>Adds to the count of chunks an upload has sent.</summary>
    public void AddUploadProgress(string path, int chunks) => state.AddUploadProgress(path, chunks);

    /// <summary>Removes the upload bookkeeping for a path.</summary>
    public void EndUpload(string path) => state.EndUpload(path);
}
