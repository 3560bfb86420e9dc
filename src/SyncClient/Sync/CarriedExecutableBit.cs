using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Which owner-executable bit a commit sends and a record keeps when the bit here is unknown or when both sides moved.
/// Rules: a known bit read here is sent as is; an unknown one (the folder cannot hold it, see
/// <see cref="ExecutableBitProbe"/>) carries the previous version's bit forward (a new file: not executable), so a
/// device that cannot see the bit never clears it. A record made without an upload keeps the remote entry's bit, so a
/// different bit here shows up as a local change on the next pass (and is sent) rather than being taken as synced.
/// </summary>
internal static class CarriedExecutableBit
{
    /// <summary>
    /// The bit to commit for <paramref name="path"/> over <paramref name="baseVersion"/>: <paramref name="observed"/>
    /// when known; else the synced row's bit when that row is the base version; else the pass's remote entry's bit when
    /// that entry is the base version; else the base version's bit from the path's history (one small lookup, only where
    /// the folder cannot hold the bit and the row predates it; never a download plan, which the server refuses for a
    /// damaged version that this very upload may be healing); else false when that history is gone (not found, damaged,
    /// not ours). A temporary failure of that lookup is thrown, so the upload is retried rather than committed with a guess.
    /// </summary>
    public static async ValueTask<bool> ForCommitAsync(SyncContext ctx, string path, ulong baseVersion, bool? observed, CancellationToken ct, RemoteEntry? remote = null)
    {
        if (observed is { } known)
        {
            return known;
        }

        if (baseVersion == 0)
        {
            return false;
        }

        if (ctx.State.GetFile(path) is { Executable: { } recorded } row && row.Version == baseVersion)
        {
            return recorded;
        }

        if (remote is { Deleted: false } r && r.Version == baseVersion && string.Equals(r.Path, path, StringComparison.Ordinal))
        {
            return r.Executable;
        }

        try
        {
            var versions = await ctx.Metadata.ListVersionsAsync(new ListVersionsRequest { Path = path }, ct).ConfigureAwait(false);
            return versions.Versions.FirstOrDefault(v => v.Version == baseVersion)?.Executable ?? false;
        }
        catch (DropboxException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.DataLoss or ErrorKind.PermissionDenied)
        {
            return false; // the history is gone or cannot be read by us: carry nothing rather than fail the upload every pass
        }

        // Any other failure (unavailable, deadline, a call the server cancelled) is temporary: it fails the upload into
        // its retry rather than commit a guessed bit, which would clear +x on every device.
    }

    /// <summary>
    /// After a path took the remote entry's content without a download (same content both sides, or a remote move
    /// applied here as a rename): the bit to record. Where the folder holds the bit and the file here kept its synced bit
    /// (no chmod here, or the synced bit is unknown), the remote bit is applied to the file and the bit read back is recorded; otherwise the remote
    /// bit is recorded, so a chmod made here (or a bit that cannot be told here) is compared against what the server has.
    /// </summary>
    public static bool? Settle(SyncContext ctx, string fullPath, bool? local, bool? synced, bool remote)
    {
        // An unknown synced bit (a row older than the bit) makes the bit here no change of the user's: it takes the
        // server's, so it is never committed as a chmod (which would clear +x on every device).
        if (local is null && !ctx.HoldsExecutableBit && ctx.MayHoldExecutableBit)
        {
            // The probe could not tell this pass (nothing was read by the scan): the file is read here, so the bit
            // recorded is the one it has, and the next pass that holds the bit sends no chmod it never saw.
            local = ExecutableBit.TryRead(fullPath);
        }

        if (!ctx.MayHoldExecutableBit || local is null || (synced is not null && local != synced))
        {
            return remote;
        }

        return local == remote ? remote : ExecutableBit.Apply(fullPath, remote);
    }
}
