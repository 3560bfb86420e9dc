using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A download whose verified bytes are in a temp file beside its target, not yet durable nor in place. Owns the temp
/// file: disposing closes it and deletes it unless it was moved into place.
/// </summary>
internal sealed class StagedDownload : IDisposable
{
    public StagedDownload(string path, string full, string temp, GetDownloadPlanResponse plan, LocalEntry? expectedLocal, byte[]? racyBaseHash)
    {
        Path = path;
        Full = full;
        Directory = System.IO.Path.GetDirectoryName(full)!;
        Temp = temp;
        Plan = plan;
        ExpectedLocal = expectedLocal;
        RacyBaseHash = racyBaseHash;
    }

    /// <summary>Relative path.</summary>
    public string Path { get; }

    /// <summary>Where it goes (checked with <see cref="SyncContext.WritePath"/>).</summary>
    public string Full { get; }

    /// <summary>The folder of <see cref="Full"/> and <see cref="Temp"/>.</summary>
    public string Directory { get; }

    public string Temp { get; }

    /// <summary>
    /// The open folder the temp file was made in and is renamed in (a batch's, see <see cref="FolderHandles"/>; not owned
    /// here), or null: the temp file is then made and renamed by path, each path checked for links first.
    /// </summary>
    public FolderHandle? Folder { get; init; }

    public GetDownloadPlanResponse Plan { get; }

    /// <summary>The chunks written, in file order.</summary>
    public List<ChunkRef> Chunks { get; } = [];

    /// <summary>
    /// For a large file (<see cref="State.FastHashList.MinFileSize"/>), each written chunk's fast hash, in the order of
    /// <see cref="Chunks"/>, taken from the verified bytes: recorded with the file for its next read. Null otherwise.
    /// </summary>
    public List<UInt128>? FastHashes { get; set; }

    public LocalEntry? ExpectedLocal { get; }

    public byte[]? RacyBaseHash { get; }

    /// <summary>
    /// The folders that hold the entries of folders made for this file (<see cref="Directory"/> and any missing above
    /// it), null when none was made: synced with <see cref="Directory"/> before the file is recorded. Only for a file
    /// made by path: a batch's open folders note the folders they made folders in themselves (<see cref="FolderHandles.MadeIn"/>).
    /// </summary>
    public IReadOnlyList<string>? NewFolderParents { get; init; }

    /// <summary>The temp file, open for writing until the barrier has made it durable.</summary>
    public SafeFileHandle? Handle { get; set; }

    /// <summary>
    /// The temp file's size and modification time once fully written and given the server's time (read from its handle),
    /// recorded after the rename: a rename keeps both, and a local write right after the rename then shows as a change
    /// rather than being taken for the downloaded bytes.
    /// </summary>
    public FileStamp? Written { get; set; }

    /// <summary>
    /// The temp file's inode (read from its handle before it is closed), for a download that replaces a file: a put-back
    /// deletes what it swapped out only when that is this very file, never a save made at the name meanwhile.
    /// </summary>
    public ulong? Inode { get; set; }

    /// <summary>The local file's ctime when the plan read it (null: not read, or not known): see <see cref="FileDownloader.DownloadAsync(string, LocalEntry?, byte[]?, long?, CancellationToken)"/>.</summary>
    public long? ExpectedChangeTimeNs { get; set; }

    /// <summary>
    /// The inode of the file the final check found at <see cref="Full"/> as the plan saw it: the file the exchange
    /// displaces must still be that one (a save by rename with the old size and mtime put back has another).
    /// </summary>
    public ulong? CheckedInode { get; set; }

    /// <summary>
    /// True once the temp file was renamed to <see cref="Full"/> (or exchanged with what was there): its name is then
    /// never deleted by <see cref="Dispose"/>.
    /// </summary>
    public bool Placed { get; set; }

    /// <summary>Closes the temp file (after its barrier).</summary>
    public void Close()
    {
        Handle?.Dispose();
        Handle = null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Close();
        if (!Placed)
        {
            // In the folder it was made in, as opened: by path, a folder swapped for a link since would have the delete
            // go through the link (to a file of the temp's name outside the sync folder) and leave the temp file here.
            if (Folder is { } folder)
            {
                _ = folder.TryDelete(System.IO.Path.GetFileName(Temp));
                return;
            }

            try
            {
                File.Delete(Temp);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
