using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The plan step of <see cref="Uploader"/>'s groups: which of each hashed file's chunks the server is missing and where
/// to put them, a group's files in as few calls as the server's caps allow; a file whose plan no answer can carry is
/// left to be planned window by window as it is put (<see cref="UploadMember.ByWindows"/>).
/// </summary>
internal sealed class UploadGroupPlanner
{
    private readonly SyncContext _ctx;
    private readonly ServerSupport _server;
    private readonly UploadCalls _calls;
    private readonly AvoidedNodes _avoidNodes;

    public UploadGroupPlanner(SyncContext ctx, ServerSupport server, UploadCalls calls, AvoidedNodes avoidNodes)
    {
        _ctx = ctx;
        _server = server;
        _calls = calls;
        _avoidNodes = avoidNodes;
    }

    /// <summary>
    /// Plans the hashed members: a group's together with PlanUploads (each call within the server's chunk cap), a file
    /// alone (or on a server without PlanUploads) with PlanUpload. A file whose plan one answer cannot carry is marked
    /// <see cref="UploadMember.ByWindows"/>: planned window by window as it is put (<c>Uploader.PutByWindowsAsync</c>).
    /// </summary>
    public async Task PlanAsync(List<UploadMember> members, bool batched, CancellationToken ct)
    {
        var calls = new List<List<UploadMember>>();
        var alone = new List<UploadMember>(); // over the batched call's cap on a server without PlanChunks: PlanUpload each
        var chunks = 0;
        foreach (var m in members)
        {
            var count = m.Fingerprint!.Chunks.Count;
            if (!m.ByWindows && count > RemoteBounds.MaxChunksPerPlanCall && _server.NoPlanChunks)
            {
                alone.Add(m);
                continue;
            }

            if (m.ByWindows || count > RemoteBounds.MaxChunksPerPlanCall)
            {
                m.ByWindows = true;
                continue;
            }

            if (calls.Count == 0 || chunks + count > RemoteBounds.MaxChunksPerPlanCall)
            {
                calls.Add([]);
                chunks = 0;
            }

            calls[^1].Add(m);
            chunks += count;
        }

        foreach (var call in calls.Select(c => (Members: c, Batched: batched)).Concat(alone.Select(m => (Members: new List<UploadMember> { m }, Batched: false))))
        {
            await PlanCallAsync(call.Members, call.Batched, ct).ConfigureAwait(false);
        }
    }

    /// <summary>One plan call for <paramref name="call"/>'s files; a call too large for one answer marks them <see cref="UploadMember.ByWindows"/>.</summary>
    private async Task PlanCallAsync(List<UploadMember> call, bool batched, CancellationToken ct)
    {
        var request = new PlanUploadsRequest();
        request.Files.AddRange(call.Select(m => PlanRequest(m.Path, m.Fingerprint!, m.BaseVersion)));
        request.Files[0].AvoidNodes.AddRange(_avoidNodes.Current()); // the server applies the files' lists to the whole call
        IReadOnlyList<PlanUploadResponse> answers;
        try
        {
            answers = await _calls.PlanAsync(request, batched, _avoidNodes, ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.ResourceExhausted && !ct.IsCancellationRequested && !_server.NoPlanChunks)
        {
            // Too many puts for one answer (the server's MaxPutsPerPlan): each file planned by PlanChunks windows. A server
            // without PlanChunks has no smaller plan to offer, so there the refusal is the file's error.
            _ctx.Progress.Log($"{Uploader.Name(call)}: the upload plan does not fit one answer ({e.Message}); planning by windows");
            call.ForEach(m => m.ByWindows = true);
            return;
        }

        for (var k = 0; k < call.Count; k++)
        {
            if (RemoteBounds.CheckUploadPlan(request.Files[k], answers[k]) is { } refused)
            {
                throw new DropboxException(ErrorKind.DataLoss, refused);
            }

            call[k].Missing = answers[k].Conflict ? [] : [.. answers[k].Missing];
            call[k].Outcome = answers[k].Conflict ? UploadOutcome.Conflict : null;
        }
    }

    internal static PlanUploadRequest PlanRequest(string path, FileFingerprint fp, ulong baseVersion)
    {
        var plan = new PlanUploadRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = Uploader.MtimeMs(fp.MtimeTicks), BaseVersion = baseVersion };
        plan.Chunks.AddRange(fp.Chunks.Select(c => c.ToProto()));
        return plan;
    }
}
