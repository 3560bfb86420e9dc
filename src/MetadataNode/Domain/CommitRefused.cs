using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.ExceptionServices;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// A file of a commit refused, written nothing: a conflict (<see cref="CurrentVersion"/> set), chunks not stored
/// (<see cref="MissingChunks"/>), or another refusal (a folder in the way, over quota, a wrong size).
/// </summary>
internal sealed record CommitRefused(ErrorKind Kind, string Message, ulong CurrentVersion, IReadOnlyList<ChunkId> MissingChunks) : CommitOutcome
{
    /// <summary>A stale base: the client edited <paramref name="baseVersion"/>, the server is at <paramref name="current"/>.</summary>
    public static CommitRefused Conflict(string path, ulong baseVersion, ulong current) =>
        new(ErrorKind.Conflict,
            $"Conflict on '{path}': you edited version {baseVersion} but the server is at version {current}. Download the current version, keep both, and commit again naming version {current} as the base.",
            current,
            []);

    /// <summary>Chunks not stored, or not uploaded by this account.</summary>
    public static CommitRefused Missing(IReadOnlyList<ChunkId> missing)
    {
        var shown = string.Join(", ", missing.Take(20));
        var more = missing.Count > 20 ? $" and {missing.Count - 20} more" : string.Empty;
        return new(ErrorKind.NotFound,
            $"Commit refused: {missing.Count} chunk(s) are not stored, or no storage node has reported this account's upload of them: {shown}{more}. Upload them (PlanUpload gives put tokens) and commit again.",
            0,
            missing.Take(Limits.MaxMissingIdsInTrailer).ToList());
    }

    /// <summary>Any other refusal, as the check that made it said it (the exception itself kept for a single-file call).</summary>
    public static CommitRefused From(DropboxException ex) => new(ex.Kind, ex.Message, 0, []) { Cause = ex };

    /// <summary>The exception the check threw, with its details, inner exception and stack (null for a conflict or missing chunks).</summary>
    public DropboxException? Cause { get; private init; }

    /// <summary>
    /// Fails a single-file call with the refusal: the check's own exception as it was thrown (its stack kept), else
    /// <see cref="ToException"/>.
    /// </summary>
    [DoesNotReturn]
    public void Throw()
    {
        if (Cause is not null)
        {
            ExceptionDispatchInfo.Throw(Cause);
        }

        throw ToException();
    }

    /// <summary>The refusal as the exception a single-file call fails with (its details become the call's trailers).</summary>
    public DropboxException ToException()
    {
        if (Cause is not null)
        {
            return Cause;
        }

        var ex = new DropboxException(Kind, Message);
        if (CurrentVersion != 0)
        {
            ex.WithDetail("current-version", CurrentVersion.ToString(CultureInfo.InvariantCulture));
        }

        if (MissingChunks.Count > 0)
        {
            ex.WithDetail("missing-chunks", string.Join(",", MissingChunks));
        }

        return ex;
    }
}
