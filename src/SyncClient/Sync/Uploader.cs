using System.Runtime.ExceptionServices;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;
using Grpc.Core;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The one upload path. Files go in groups: planned together (one <c>PlanUploads</c> call), their missing chunks put
/// through one <see cref="PutQueue"/> (per-node batches shared by the group's files), committed together (one
/// <c>CommitFiles</c> call, one db transaction). A small file is read whole; a large one is one member of its own group,
/// its chunks streaming through plan windows as it is read (not hashed yet) or read back stretch by stretch (hashed), so
/// memory stays flat in file size. The unusual cases are each handled once, here: a conflict is the caller's to resolve
/// (<see cref="UploadOutcome.Conflict"/>), a file written to meanwhile is never committed (<see cref="UploadOutcome.Changed"/>),
/// a chunk the commit finds missing and a node found full or down (now avoided) make the group plan again, a plan too
/// large for one answer is planned by windows, and a server without the batched calls gets the one-file calls.
/// </summary>
internal sealed partial class Uploader
{
    /// <summary>Files at most this large are read whole; larger ones stream, each in a group of its own.</summary>
    public const long SmallFileSize = 1 << 20;

    /// <summary>Most files per group (the server accepts at most 1000 per CommitFiles call; <see cref="SyncOptions.UploadGroupFiles"/>).</summary>
    public const int GroupSize = 250;

    /// <summary>
    /// File sizes (as scanned) per group: a group is cut before a file would take it past this. A soft bound on the memory
    /// a group holds; a large file goes in a group of its own, holding about as much (two plan windows).
    /// </summary>
    public const long MaxGroupBytes = 16 << 20;

    /// <summary>
    /// Groups under way at once. A group's steps take turns between the two processes (read and hash here, plan, put and
    /// commit there, record here), so four keep work queued on both sides of a 2-core machine; about 64 MiB of file bytes.
    /// </summary>
    public const int GroupsInFlight = 4;

    /// <summary>New plans a group may make after its first (a node found full or down, a chunk found missing at commit).</summary>
    private const int MaxReplans = 2;

    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly SemaphoreSlim _puts;
    private readonly FileHasher _hasher;
    private readonly ServerSupport _server;
    private readonly UploadCalls _calls;

    /// <summary>One group records its files at a time: a second group's transaction waits without a thread.</summary>
    private readonly SemaphoreSlim _recording = new(1, 1);

    public Uploader(SyncContext ctx, SyncSummary summary, SemaphoreSlim puts, FileHasher hasher, ServerSupport? server = null, AvoidedNodes? avoidNodes = null)
    {
        _ctx = ctx;
        _summary = summary;
        _puts = puts;
        _hasher = hasher;
        _server = server ?? new ServerSupport();
        _calls = new UploadCalls(ctx.Metadata, _server);
        AvoidNodes = avoidNodes ?? new AvoidedNodes(ctx.Time);
    }

    /// <summary>Storage nodes that refused a put as full or did not answer: later plans ask to be placed elsewhere.</summary>
    public AvoidedNodes AvoidNodes { get; }

    /// <summary>
    /// Uploads every action in groups; one result per action. A file whose group failed as a whole (a call of the group,
    /// a node that failed it for good) comes back with no outcome: upload it alone (<see cref="UploadOneAsync"/>), where
    /// its error is its own. An action without a fingerprint is read once, hashed and sent from that read.
    /// </summary>
    public Task<List<UploadResult>> UploadAsync(IEnumerable<SyncAction> uploads, CancellationToken ct) => UploadAsync(uploads, _ => true, ct);

    /// <summary>
    /// As <see cref="UploadAsync(IEnumerable{SyncAction}, CancellationToken)"/>, keeping only the results
    /// <paramref name="keep"/> takes. The actions are taken from <paramref name="uploads"/> as groups start, so a lazy
    /// sequence of a first sync's 100,000 new files is held a few groups at a time, and one group's end lets the next start
    /// (no drain of every group in flight between parts of the sequence).
    /// </summary>
    public async Task<List<UploadResult>> UploadAsync(IEnumerable<SyncAction> uploads, Func<UploadResult, bool> keep, CancellationToken ct)
    {
        var done = new List<(int Order, List<UploadResult> Results)>();
        var inFlight = new List<(int Order, Task<List<UploadResult>> Task)>();
        var started = 0;
        var group = new List<SyncAction>();
        long groupBytes = 0;
        var groupFiles = Math.Clamp(_ctx.Options.UploadGroupFiles, 1, GroupSize);
        ExceptionDispatchInfo? failed = null;

        // One transfer at a time (Parallelism 1, as the deterministic simulation runs) means one group at a time too: a
        // seed's crash point and log must not depend on which of two groups' steps a thread reached first.
        var groupsInFlight = _ctx.Options.Parallelism > 1 ? GroupsInFlight : 1;
        try
        {
            foreach (var upload in uploads)
            {
                var size = upload.Fingerprint?.Size ?? upload.Local?.Size ?? long.MaxValue;
                if (size > SmallFileSize)
                {
                    await StartAsync([upload]).ConfigureAwait(false); // alone: its windows take a group's bytes
                    continue;
                }

                if (group.Count >= groupFiles || groupBytes + size > MaxGroupBytes)
                {
                    await StartAsync(group).ConfigureAwait(false);
                    group = [];
                    groupBytes = 0;
                }

                group.Add(upload);
                groupBytes += size;
            }

            await StartAsync(group).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failed = ExceptionDispatchInfo.Capture(e);
        }

        // Every group is waited for, also when one failed or the pass was cancelled (the first failure is rethrown
        // after): no group is left running behind the caller's back, to commit and record after it has moved on.
        while (inFlight.Count > 0)
        {
            try
            {
                await TakeEndedAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                failed ??= ExceptionDispatchInfo.Capture(e);
            }
        }

        failed?.Throw();
        return done.OrderBy(d => d.Order).SelectMany(d => d.Results).ToList(); // in the order given, whichever group ended first

        async Task StartAsync(List<SyncAction> members)
        {
            if (members.Count > 0)
            {
                inFlight.Add((started++, RunGroupAsync(members, ct)));
            }

            // A bounded overlap: while the node plans, stores and commits some groups, the next is read and hashed. A
            // group's place goes to the next as soon as any group ends: waiting for the oldest held every later group's
            // successor back behind one slow commit.
            while (inFlight.Count >= groupsInFlight)
            {
                await TakeEndedAsync().ConfigureAwait(false);
            }
        }

        // Takes one ended group off the list: the results kept, or its failure thrown.
        async Task TakeEndedAsync()
        {
            var ended = await Task.WhenAny(inFlight.Select(f => f.Task)).ConfigureAwait(false);
            var at = inFlight.FindIndex(f => f.Task == ended);
            var order = inFlight[at].Order;
            inFlight.RemoveAt(at);
            done.Add((order, (await ended.ConfigureAwait(false)).Where(keep).ToList()));
        }
    }

    /// <summary>Uploads one file (a group of one); its errors are thrown.</summary>
    public async Task<UploadResult> UploadOneAsync(SyncAction upload, CancellationToken ct)
    {
        var member = new UploadMember(upload);
        try
        {
            await UploadMembersAsync([member], ct).ConfigureAwait(false);
        }
        finally
        {
            member.DisposeRead();
        }

        return member.Error is { } error ? throw error : member.Result;
    }

    private async Task<List<UploadResult>> RunGroupAsync(List<SyncAction> group, CancellationToken ct)
    {
        var members = group.Select(a => new UploadMember(a)).ToList();
        try
        {
            await UploadMembersAsync(members, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException && !ct.IsCancellationRequested)
        {
            // A call of the whole group failed (a plan, a commit, a node that failed it again), or a read did: each file
            // not settled is uploaded again alone, where what fails is reported file by file.
        }
        finally
        {
            members.ForEach(m => m.DisposeRead());
        }

        return members.ConvertAll(m => m.Error is null ? m.Result : new UploadResult(m.Action, null, m.Fingerprint));
    }

    /// <summary>Plans, puts and commits the members until each has an outcome (or an error of its own).</summary>
    private async Task UploadMembersAsync(List<UploadMember> members, CancellationToken ct)
    {
        for (var replans = 0; ; replans++)
        {
            var open = members.Where(m => m.Open).ToList();
            if (open.Count == 0)
            {
                return;
            }

            var alone = members.Count == 1;
            open.ForEach(m => m.Progressive = alone); // a file alone counts its progress put by put (and can resume); a group's files at commit
            await ReadSmallAsync(open, ct).ConfigureAwait(false);
            await PlanAsync(open.Where(m => m.Open && m.Fingerprint is not null).ToList(), !alone, ct).ConfigureAwait(false);
            var queue = new PutQueue(_ctx, _summary, _puts, AvoidNodes, alone ? open[0].Path : null, ct);
            await using (queue.ConfigureAwait(false))
            {
                try
                {
                    foreach (var m in open.Where(m => m.Open))
                    {
                        if (m.Fingerprint is null)
                        {
                            await StreamAsync(m, queue, ct).ConfigureAwait(false);
                        }
                        else if (!await PutPlannedAsync(m, queue, ct).ConfigureAwait(false))
                        {
                            m.Outcome = UploadOutcome.Changed; // no longer the file that was hashed: read and send no more of it
                        }
                    }

                    await queue.CompleteAsync().ConfigureAwait(false); // throws the first failed put
                }
                catch (DropboxException e) when (e.Kind is ErrorKind.ResourceExhausted or ErrorKind.Unavailable && queue.NodeFailed && replans < MaxReplans && !ct.IsCancellationRequested)
                {
                    // A put of this group's own plan found its node full or down (now avoided): planned again on the
                    // others, rather than failing the files for this pass. Puts that did land are named held by the new
                    // plan. Another group's node failure is no reason to.
                    _ctx.Progress.Log($"{Name(open)}: a storage node is full or not answering; planning again on the others");
                    await HashStoppedStreamsAsync(open, ct).ConfigureAwait(false);
                    continue;
                }
            }

            foreach (var m in open.Where(m => m.Open && !StillAsHashed(_ctx.FullPath(m.Path), m.Fingerprint!)))
            {
                m.Outcome = UploadOutcome.Changed; // written to since it was read: commit nothing half-written
            }

            var missing = await CommitAsync(open.Where(m => m.Open).ToList(), !alone, ct).ConfigureAwait(false);
            foreach (var m in missing)
            {
                if (replans >= MaxReplans)
                {
                    m.Error = new DropboxException(ErrorKind.NotFound, $"'{m.Path}': the server still has not verified every chunk after {MaxReplans + 1} plans.");
                }
                else
                {
                    _ctx.Progress.Log($"'{m.Path}': the server has not verified every chunk yet; planning again");
                }
            }
        }
    }

    private static string Name(List<UploadMember> members) => members.Count == 1 ? $"'{members[0].Path}'" : $"a group of {members.Count} files";

    /// <summary>
    /// Plans the hashed members: a group's together with PlanUploads (each call within the server's chunk cap), a file
    /// alone (or on a server without PlanUploads) with PlanUpload. A file whose plan one answer cannot carry is marked
    /// <see cref="UploadMember.ByWindows"/>: planned window by window as it is put (<see cref="PutByWindowsAsync"/>).
    /// </summary>
    private async Task PlanAsync(List<UploadMember> members, bool batched, CancellationToken ct)
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
        request.Files[0].AvoidNodes.AddRange(AvoidNodes.Current()); // the server applies the files' lists to the whole call
        IReadOnlyList<PlanUploadResponse> answers;
        try
        {
            answers = await _calls.PlanAsync(request, batched, AvoidNodes, ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.ResourceExhausted && !ct.IsCancellationRequested && !_server.NoPlanChunks)
        {
            // Too many puts for one answer (the server's MaxPutsPerPlan): each file planned by PlanChunks windows. A server
            // without PlanChunks has no smaller plan to offer, so there the refusal is the file's error.
            _ctx.Progress.Log($"{Name(call)}: the upload plan does not fit one answer ({e.Message}); planning by windows");
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

    /// <summary>
    /// Commits the members (a group's with CommitFiles, a file alone, or each on a server without it, with CommitFile), checks each answer, records the
    /// committed ones in one transaction and sets every outcome; returns the members whose chunks the server found missing.
    /// </summary>
    private async Task<List<UploadMember>> CommitAsync(List<UploadMember> members, bool batched, CancellationToken ct)
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
            var commit = new CommitFileRequest { Path = m.Path, Size = (ulong)fp.Size, MtimeUnixMs = MtimeMs(fp.MtimeTicks), BaseVersion = m.BaseVersion, Device = _ctx.Device, Executable = executable };
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
                    records.Add((new FileRecord(m.Path, FileKind.File, fp.Size, RacyClean.Recorded(fp), version, fp.ContentHash) { Executable = requests[i].Executable, ChangeTimeNs = fp.ChangeTimeNs }, fp.Chunks, fp.FastHashes));
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

    internal static PlanUploadRequest PlanRequest(string path, FileFingerprint fp, ulong baseVersion)
    {
        var plan = new PlanUploadRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = MtimeMs(fp.MtimeTicks), BaseVersion = baseVersion };
        plan.Chunks.AddRange(fp.Chunks.Select(c => c.ToProto()));
        return plan;
    }

    private static long MtimeMs(long mtimeTicks) => new DateTimeOffset(mtimeTicks, TimeSpan.Zero).ToUnixTimeMilliseconds();

    /// <summary>True when the file still has the size, mtime and (where known) ctime it had when <paramref name="fp"/> was computed.</summary>
    internal static bool StillAsHashed(string fullPath, FileFingerprint fp) => FileHasher.IsAsScanned(fullPath, fp.Size, fp.MtimeTicks, fp.ChangeTimeNs);
}
