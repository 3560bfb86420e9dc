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
/// <remarks>
/// By concern: the groups and their rounds (this file), the reads and puts (<c>Uploader.Reads.cs</c>); a group's plan
/// step is <see cref="UploadGroupPlanner"/>'s, its commit and record <see cref="UploadGroupCommitter"/>'s.
/// </remarks>
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
    private readonly UploadGroupPlanner _planner;
    private readonly UploadGroupCommitter _committer;

    public Uploader(SyncContext ctx, SyncSummary summary, SemaphoreSlim puts, FileHasher hasher, ServerSupport? server = null, AvoidedNodes? avoidNodes = null)
    {
        _ctx = ctx;
        _summary = summary;
        _puts = puts;
        _hasher = hasher;
        _server = server ?? new ServerSupport();
        var calls = new UploadCalls(ctx.Metadata, _server);
        AvoidNodes = avoidNodes ?? new AvoidedNodes(ctx.Time);
        _planner = new UploadGroupPlanner(ctx, _server, calls, AvoidNodes);
        _committer = new UploadGroupCommitter(ctx, summary, calls);
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
            await _planner.PlanAsync(open.Where(m => m.Open && m.Fingerprint is not null).ToList(), !alone, ct).ConfigureAwait(false);
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
                    // others, rather than failing the files for this pass. The new plan counts the puts that did land
                    // (each node reports its own) except on the avoided nodes, and asks only for the copies they leave
                    // missing. Another group's node failure is no reason to.
                    _ctx.Progress.Log($"{Name(open)}: a storage node is full or not answering; planning again on the others");
                    await HashStoppedStreamsAsync(open, ct).ConfigureAwait(false);
                    continue;
                }
            }

            foreach (var m in open.Where(m => m.Open && !StillAsHashed(_ctx.FullPath(m.Path), m.Fingerprint!)))
            {
                m.Outcome = UploadOutcome.Changed; // written to since it was read: commit nothing half-written
            }

            var missing = await _committer.CommitAsync(open.Where(m => m.Open).ToList(), !alone, ct).ConfigureAwait(false);
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

    internal static string Name(List<UploadMember> members) => members.Count == 1 ? $"'{members[0].Path}'" : $"a group of {members.Count} files";

    internal static long MtimeMs(long mtimeTicks) => new DateTimeOffset(mtimeTicks, TimeSpan.Zero).ToUnixTimeMilliseconds();

    /// <summary>True when the file still has the size, mtime and (where known) ctime it had when <paramref name="fp"/> was computed.</summary>
    internal static bool StillAsHashed(string fullPath, FileFingerprint fp) => FileHasher.IsAsScanned(fullPath, fp.Size, fp.MtimeTicks, fp.ChangeTimeNs);
}
