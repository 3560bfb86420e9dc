using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Grpc.Core;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The commit step of <see cref="Uploader"/>'s groups: the files whose chunks were put are committed (one call for a
/// group), each answer checked, the committed ones recorded in one db transaction (one group at a time) and reported;
/// a conflict, a chunk the server still misses or an error is each file's outcome.
/// </summary>
internal sealed class UploadGroupCommitter
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly UploadCalls _calls;

    /// <summary>One group records its files at a time: a second group's transaction waits without a thread.</summary>
    private readonly SemaphoreSlim _recording = new(1, 1);

    public UploadGroupCommitter(SyncContext ctx, SyncSummary summary, UploadCalls calls)
    {
        _ctx = ctx;
        _summary = summary;
        _calls = calls;
    }

    /// <summary>
    /// Commits the members (a group's with CommitFiles, a file alone, or each on a server without it, with CommitFile), checks each answer, records the
    /// committed ones in one transaction and sets every outcome; returns the members whose chunks the server found missing.
    /// </summary>
    public async Task<List<UploadMember>> CommitAsync(List<UploadMember> members, bool batched, CancellationToken ct)
    {
        var missing = new List<UploadMember>();
        if (members.Count == 0)
        {
            return missing;
        }

        var requests = new List<CommitFileRequest>(members.Count);
        foreach (var m in members)
        {
            var fp = m.Fingerprint!;
            var executable = await CarriedExecutableBit.ForCommitAsync(_ctx, m.Path, m.BaseVersion, fp.Executable, ct, m.Action.Remote).ConfigureAwait(false);
            var commit = new CommitFileRequest { Path = m.Path, Size = (ulong)fp.Size, MtimeUnixMs = Uploader.MtimeMs(fp.MtimeTicks), BaseVersion = m.BaseVersion, Device = _ctx.Device, Executable = executable };
            commit.Chunks.AddRange(fp.Chunks.Select((c, i) => m.CommitRef(i).ToProto()));
            requests.Add(commit);
        }

        var results = await _calls.CommitAsync(requests, batched, ct).ConfigureAwait(false);
        var records = new List<(FileRecord, IReadOnlyList<ChunkRef>?, IReadOnlyList<UInt128>?)>(members.Count);
        for (var i = 0; i < members.Count; i++)
        {
            var (m, result) = (members[i], results[i]);
            switch (result)
            {
                case { StatusCode: 0, Committed: { } committed }:
                    var version = committed.Entry?.Version is > 0 ? committed.Entry.Version : committed.Sequence;
                    var fp = m.Fingerprint!;
                    records.Add((new FileRecord(m.Path, FileKind.File, fp.Size, RacyClean.Recorded(fp), version, fp.ContentHash) { Executable = requests[i].Executable, ChangeTimeNs = FileChangeTime.ToRecord(fp.ChangeTimeNs) }, fp.Chunks, fp.FastHashes));
                    break;
                case { StatusCode: (int)StatusCode.FailedPrecondition }:
                    m.Outcome = UploadOutcome.Conflict;
                    break;
                case { StatusCode: (int)StatusCode.NotFound, MissingChunkIds.Count: > 0 }:
                    missing.Add(m);
                    break;
                default:
                    m.Error = new DropboxException(ErrorKind.Internal, $"'{m.Path}' was not committed: {result.ErrorMessage} (status {result.StatusCode}).");
                    break;
            }
        }

        // Recorded even when cancelled now (they are committed).
        await _recording.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            _ctx.Db.RecordFiles(records);
        }
        finally
        {
            _recording.Release();
        }

        for (var i = 0; i < members.Count; i++)
        {
            var m = members[i];
            if (results[i] is not { StatusCode: 0, Committed: not null })
            {
                continue;
            }

            var fp = m.Fingerprint!;
            m.Outcome = UploadOutcome.Committed;
            if (m.Progressive)
            {
                _ctx.Db.EndUpload(m.Path);
            }
            else
            {
                _ctx.Progress.AddBytes(fp.Size);
            }

            _summary.AddFileUploaded();
            _summary.AddChunksDeduplicated(Math.Max(0, fp.Chunks.Select(c => c.Id).Distinct().Count() - m.Sent.Count));
            _ctx.Progress.FileDone();
            _ctx.Progress.Log($"uploaded '{m.Path}' ({Format.Bytes(fp.Size)})");
        }

        return missing;
    }
}
