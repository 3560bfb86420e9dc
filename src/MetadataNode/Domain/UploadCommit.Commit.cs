using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class UploadCommit
{
    /// <summary>
    /// Commits a new version of a file. Every chunk must be confirmed stored (by a node's event, else by
    /// asking the nodes) or the commit is refused naming the missing ids; a stale base is a conflict.
    /// </summary>
    public async Task<Committed> CommitAsync(UserInfo user, FileUpload upload, CancellationToken cancellationToken)
    {
        Func<string, bool> live = _nodeRegistry.HoldsLiveCopies; // judged when asked (the wait, the check): see HoldsLiveCopies
        var ns = Namespace(user);
        var answers = await VerifyUnconfirmedAsync(ns.Id, [upload], live, cancellationToken).ConfigureAwait(false);
        var now = NowMs;
        var outcome = await MutateDurableAsync(
            ns,
            (batch, record) =>
            {
                RecordAnswers(batch, ns.Id, answers, live);
                var settled = Settle(batch, record!, ns.Id, upload, now, live);
                if (settled is CommitRefused refused && answers is null)
                {
                    // A refusal stages nothing of its own: with no answers to keep either, it is thrown here, so
                    // nothing is written. With answers, the batch is written (what the nodes hold, the marks they
                    // disprove) and the refusal thrown once it is.
                    refused.Throw();
                }

                return settled;
            },
            durable: IsKept).ConfigureAwait(false);
        EndPuts(ns.Id, answers);
        if (outcome is CommitRefused refusal)
        {
            refusal.Throw();
        }

        return outcome as Committed ?? throw new InvalidOperationException("Unknown commit outcome.");
    }

    /// <summary>
    /// Whether a commit's write waits for a WAL sync: not a refusal's. What a refusal writes (the nodes' answers, a
    /// dropped mark) is a cache the next commit rebuilds by asking again, not a promise to the client; and whether it
    /// writes anything depends on other accounts' records (a copy already recorded, a record created), so a sync only
    /// when it did would time as a signal of them.
    /// </summary>
    private static bool IsKept(CommitOutcome outcome) => outcome is not CommitRefused;

    /// <summary>
    /// Commits several files in one atomic write batch and one fsync. Each file is judged on its own, as
    /// <see cref="CommitAsync"/> would: a refused file (conflict, missing chunks, folder in the way) gets an
    /// error result and writes nothing, the others commit.
    /// </summary>
    public async Task<IReadOnlyList<CommitOutcome>> CommitManyAsync(UserInfo user, IReadOnlyList<FileUpload> uploads, CancellationToken cancellationToken)
    {
        if (uploads.Count > Limits.MaxFilesPerBatch)
        {
            throw Limits.TooManyFiles(uploads.Count);
        }

        Func<string, bool> live = _nodeRegistry.HoldsLiveCopies; // judged when asked (the wait, the check): see HoldsLiveCopies
        var total = uploads.Sum(u => (long)u.Chunks.Count);
        if (total > Limits.MaxChunksPerFile)
        {
            throw new DropboxException(ErrorKind.ResourceExhausted, $"Too many chunks in one call: {total}; the limit is MaxChunksPerFile = {Limits.MaxChunksPerFile} in all. Send fewer files per call.");
        }

        EnsureNoFileUnderAnother(uploads);
        var ns = Namespace(user);
        var answers = await VerifyUnconfirmedAsync(ns.Id, uploads, live, cancellationToken).ConfigureAwait(false);
        var now = NowMs;
        var outcomes = await MutateDurableAsync<IReadOnlyList<CommitOutcome>>(
            ns,
            (batch, record) =>
            {
                RecordAnswers(batch, ns.Id, answers, live);
                var results = new List<CommitOutcome>(uploads.Count);
                foreach (var upload in uploads)
                {
                    results.Add(Settle(batch, record!, ns.Id, upload, now, live));
                }

                return results;
            },
            durable: results => results.Any(IsKept)).ConfigureAwait(false);
        EndPuts(ns.Id, answers);
        return outcomes;
    }

    /// <summary>
    /// One file of a commit judged and, unless refused, staged. Every refusal (a conflict, missing chunks, a folder in
    /// the way, the quota, a wrong size) comes back as a <see cref="CommitRefused"/> and stages nothing.
    /// </summary>
    private CommitOutcome Settle(RecordBatch batch, NamespaceRecord record, string ns, FileUpload upload, long now, Func<string, bool> live)
    {
        CommitOutcome? settled;
        PathEntry? prepared;
        try
        {
            EnsureWithinQuota(record, batch, upload);
            settled = PrepareCommit(batch, ns, upload, now, live, out prepared);
        }
        catch (DropboxException ex) when (ex.Kind is not ErrorKind.Internal)
        {
            return CommitRefused.From(ex);
        }

        return settled ?? ApplyCommit(batch, record, prepared!, now);
    }

    /// <summary>
    /// Refuses a batch in which one file's path is a folder of another's (<c>[d/child, d]</c>): each file alone
    /// passes the tree checks against what is stored, but together they describe a tree no disk can hold, and
    /// every later sync of the account failed on it.
    /// </summary>
    private static void EnsureNoFileUnderAnother(IReadOnlyList<FileUpload> uploads)
    {
        var index = new Dictionary<string, int>(uploads.Count, StringComparer.Ordinal);
        for (var i = 0; i < uploads.Count; i++)
        {
            index.TryAdd(uploads[i].Path, i);
        }

        for (var i = 0; i < uploads.Count; i++)
        {
            var path = uploads[i].Path;
            for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
            {
                if (index.TryGetValue(path[..slash], out var parent))
                {
                    throw new DropboxException(ErrorKind.InvalidArgument, $"File #{parent} '{path[..slash]}' is a folder of file #{i} '{path}' in the same call: a path cannot be both a file and a folder. Send one of them.");
                }
            }
        }
    }

    /// <summary>
    /// Before taking the write lock: asks the nodes about every chunk this namespace holds a put token for and does not
    /// both own and see stored, then waits (until <see cref="MetadataNodeOptions.EventWait"/> after the call began) for
    /// this namespace's own "stored" events for chunks it neither references nor is known to have uploaded. A chunk
    /// stored only by someone else is not enough: otherwise knowing a hash would be enough to claim, and then download,
    /// another user's file. Which chunks are asked about and when the wait ends depend only on this namespace's own
    /// state, never on the chunk's record: a commit naming a chunk another account holds takes the same calls and the
    /// same time as one naming a chunk nobody holds (the record's state used to decide whether the nodes were asked,
    /// and the wait began after the asking, so the commit took longer when nobody held the chunk). Returns the nodes'
    /// answers for the commit to record in its own locked step (<see cref="RecordAnswers"/>), or null when none was
    /// asked or the commit waits: a commit that waits records them before the wait, in a locked step of their own.
    /// </summary>
    private async Task<NodeAnswers?> VerifyUnconfirmedAsync(string ns, IReadOnlyList<FileUpload> uploads, Func<string, bool> live, CancellationToken cancellationToken)
    {
        // The wait's deadline is set before the nodes are asked, so however long they take to answer is inside it.
        var deadline = _clock.GetUtcNow() + _options.EventWait;
        List<ChunkRef>? unconfirmed = null;
        var distinct = new List<ChunkId>();
        var seen = new HashSet<ChunkId>();
        foreach (var upload in uploads)
        {
            foreach (var chunk in upload.Chunks)
            {
                if (seen.Add(chunk.Id))
                {
                    distinct.Add(chunk.Id);
                    // Every chunk with a put outstanding, or uploaded by this account and not yet referenced, is asked
                    // about, whatever the chunk's record says: whether this account's own "stored" event was trusted
                    // (nobody held the content) or not (a tombstone: someone once held it) must not change the calls.
                    if (PutPending(ns, chunk.Id) || UploadedOnly(ns, chunk.Id))
                    {
                        (unconfirmed ??= []).Add(chunk);
                    }
                }
            }
        }

        var answers = unconfirmed is null ? null : await VerifyWithNodesAsync(unconfirmed, cancellationToken).ConfigureAwait(false);

        for (var round = 0; round < 10_000; round++)
        {
            var signal = _eventsSignal.Current;
            // Wait only for chunks this namespace was given put tokens for: its own "stored" event may still be on
            // the way. Whether anyone else holds a chunk must not change the timing (or the answer): a commit that
            // names a hash it was never asked to upload fails at once, whoever stores it.
            // The in-memory check first: once a chunk's event has landed its put is no longer pending, and the record need not be read.
            // The first round judges by the account's marks before the nodes' answers are recorded: a fresh mark the
            // nodes disprove is not waited for, the commit is refused at once (the event that wrote the mark came, and
            // did not make the chunk held: an untrusted event, bytes lost on the node, a draining node). A copy reported
            // corrupt leaves no such mark: the report drops its node from every mark (CorruptOwnCopies), so a commit after
            // a replan, or after a put again on that node, waits for the new puts' events rather than being refused.
            distinct.RemoveAll(id => !PutPending(ns, id) || OwnedBy(ns, id, live));
            var remaining = deadline - _clock.GetUtcNow();
            if (distinct.Count == 0 || remaining <= TimeSpan.Zero)
            {
                return answers;
            }

            if (round == 0)
            {
                // Recorded before the wait, not in the commit's step after it: an "uploaded" mark the account's own
                // event writes during the wait must not be dropped by answers older than it (its next plan would ask
                // for the bytes again), an event arriving during the wait is trusted against a copy the nodes vouched
                // for, and the answers stand unless the collector or a corrupt report moved while the nodes answered,
                // not over the whole wait. Whether a commit waits depends on this account's state alone, so the
                // second locked step tells nothing of anyone else's.
                RecordAnswersAlone(ns, answers, live);
                answers = null;
                Interlocked.Increment(ref _eventWaits);
                remaining = deadline - _clock.GetUtcNow(); // the wait still ends at the deadline, however long the lock took
                if (remaining <= TimeSpan.Zero)
                {
                    return null;
                }
            }

            try
            {
                await signal.WaitAsync(remaining, _clock, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return answers;
            }
        }

        return answers;
    }

    /// <summary>Commits that waited for "stored" events (tests check which commits wait, without timing them).</summary>
    internal long EventWaits => Interlocked.Read(ref _eventWaits);

    private long _eventWaits;

    /// <summary>True while a put token this namespace was given for the chunk is valid, or was until an event wait ago.</summary>
    private bool PutPending(string ns, ChunkId id) =>
        _namespaces.TryGetValue(ns, out var state) && state.Pending.Contains(id, _clock.GetUtcNow().UtcTicks);

    /// <summary>
    /// Waits for room in the account's budget of plan and commit work (<see cref="Limits.MaxChunkWorkInFlightPerUser"/>),
    /// taking <paramref name="chunks"/> units; dispose the lease when the call is done.
    /// </summary>
    public ValueTask<WorkGate.Lease> AdmitAsync(UserInfo user, long chunks, CancellationToken cancellationToken) =>
        Namespace(user).Work.EnterAsync(chunks, cancellationToken);

    /// <summary>Put tokens the account has outstanding (tests and metrics).</summary>
    internal int PendingPutCount(UserInfo user) => Namespace(user).Pending.Count;

    /// <summary>The commit's wait no longer needs the chunk's events (<see cref="OwnCopies.EndsEventWait"/>).</summary>
    private bool OwnedBy(string ns, ChunkId id, Func<string, bool> live) =>
        OwnCopies.EndsEventWait(ReadNamespaceChunk(ns, id), NowMs, _options.GcGracePeriod, live);

    /// <summary>True if a node reported this namespace's own upload of the chunk within the grace period and the namespace does not reference it.</summary>
    private bool UploadedOnly(string ns, ChunkId id) => ReadNamespaceChunk(ns, id) is { Refs: 0 } record && UploadFresh(record);

    private NamespaceChunkRecord? ReadNamespaceChunk(string ns, ChunkId id) =>
        _engine.Get(Keys.NamespaceChunk(ns, id), _engine.NamespaceChunks) is { } bytes ? NamespaceChunkRecord.Parser.ParseFrom(bytes) : null;

    /// <summary>The namespace references the chunk, or uploaded it within the grace period.</summary>
    private bool Owns(NamespaceChunkRecord? record) => record is not null && (record.Refs > 0 || UploadFresh(record));

    /// <summary>The mark counts now (<see cref="OwnCopies.UploadFresh"/>: for the grace period only).</summary>
    private bool UploadFresh(NamespaceChunkRecord record) => OwnCopies.UploadFresh(record, NowMs, _options.GcGracePeriod);

    /// <summary>The quota check of a commit, against the totals as this batch has changed them so far.</summary>
    private static void EnsureWithinQuota(NamespaceRecord record, RecordBatch batch, FileUpload upload)
    {
        if (record.QuotaBytes == 0)
        {
            return;
        }

        var current = batch.GetFile(record.NamespaceId, upload.Path)?.Current;
        EnsureWithinQuota(record, upload.Path, upload.Size, IsLiveFile(current) ? current!.Size : 0);
    }

    /// <summary>
    /// Every check of a commit, staging nothing: null with the new entry in <paramref name="prepared"/> (its version not
    /// yet assigned), or the outcome already settled: <see cref="Committed"/> when the content is already current, a
    /// <see cref="CommitRefused"/> on a conflict or missing chunks. Other refusals (the tree, sizes) throw.
    /// </summary>
    private CommitOutcome? PrepareCommit(RecordBatch batch, string ns, FileUpload upload, long now, Func<string, bool> live, out PathEntry? prepared)
    {
        prepared = null;
        var current = batch.GetFile(ns, upload.Path)?.Current;
        if (IsLive(current))
        {
            if (current!.Kind == PathKind.Folder)
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{upload.Path}' is a folder; a file cannot replace it. Delete or move the folder first.");
            }

            if (SameContent(current, upload) && current.Executable == upload.Executable)
            {
                // An identical commit (e.g. a retry after a lost answer) changes nothing and loses nothing.
                return new Committed(current);
            }

            if (upload.BaseVersion != current.Version)
            {
                return CommitRefused.Conflict(upload.Path, upload.BaseVersion, current.Version);
            }
        }

        EnsureParentsAreNotFiles(batch, ns, upload.Path);
        EnsureNothingLiveUnder(batch, ns, upload.Path);

        List<ChunkId>? missing = null;
        var refs = new ChunkRef[upload.Chunks.Count];
        var at = 0;
        foreach (var chunk in upload.Chunks)
        {
            var chunkRecord = batch.GetChunk(chunk.Id);
            var mark = batch.GetNamespaceChunk(ns, chunk.Id);
            if (!Owns(mark) || !OwnCopies.HeldFor(mark, chunkRecord, _nodeRegistry.MayHoldNewCopies, live))
            {
                missing ??= [];
                if (!missing.Contains(chunk.Id))
                {
                    missing.Add(chunk.Id);
                }

                continue;
            }

            if (chunkRecord!.Size != 0 && chunkRecord.Size != chunk.Size)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {chunk.Id} is {chunkRecord.Size} bytes on the storage node, but the commit of '{upload.Path}' says {chunk.Size}.");
            }

            refs[at++] = chunkRecord.StoredSize != 0
                ? new ChunkRef(chunk.Id, chunk.Size, (ChunkEncoding)chunkRecord.Encoding, (int)chunkRecord.StoredSize)
                : chunk;
        }

        if (missing is not null)
        {
            return CommitRefused.Missing(missing);
        }

        prepared = new PathEntry
        {
            Path = upload.Path,
            Size = upload.Size,
            MtimeUnixMs = upload.MtimeUnixMs,
            Chunks = refs,
            Kind = PathKind.File,
            ContentHash = FileVersion.ComputeContentHash(upload.Chunks.Select(c => c.Id)),
            ModifiedBy = upload.Device,
            ServerTimeUnixMs = now,
            Executable = upload.Executable,
        };
        return null;
    }

    /// <summary>Stages a prepared commit: next sequence, version, references, change.</summary>
    private Committed ApplyCommit(RecordBatch batch, NamespaceRecord record, PathEntry prepared, long now)
    {
        var entry = prepared with { Version = ++record.Head };
        ApplyVersion(batch, record, entry, now);
        AppendChange(batch, record, ChangeType.Upsert, entry);
        return new Committed(entry);
    }

    /// <summary>The upload names the current version's content (same size, same chunk ids in order).</summary>
    internal static bool SameContent(PathEntry current, FileUpload upload)
    {
        if (current.Kind != PathKind.File || current.Size != upload.Size || current.Chunks.Count != upload.Chunks.Count)
        {
            return false;
        }

        for (var i = 0; i < upload.Chunks.Count; i++)
        {
            if (current.Chunks[i].Id != upload.Chunks[i].Id)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Asks the live nodes that are not draining whether they hold chunks no event confirmed; the commit records what
    /// they hold in its own locked step (<see cref="RecordAnswers"/>). Null when no node could be asked.
    /// A draining node is not asked: a copy found only there would be recorded after its drain may have been reported
    /// "drained" (the put's own entry expires long before an "uploaded" mark does), and the node removed with the
    /// file's only copy. The commit is refused as missing instead, and the client puts the chunk elsewhere.
    /// </summary>
    private async Task<NodeAnswers?> VerifyWithNodesAsync(List<ChunkRef> chunks, CancellationToken cancellationToken)
    {
        var nodes = LiveNodes().Where(n => !n.Draining).ToList();
        if (nodes.Count == 0)
        {
            return null;
        }

        // Read before asking: a deletion recorded after this may have removed what a node is about to say it holds.
        // The calls are shared with concurrent commits, but only calls sent after this joins them (NodePresenceBatcher):
        // every answer used here was made after these reads. A node that fails answers "not held" for all (logged).
        var deletionsBefore = _transactions.ChunkDeletions;
        var corruptBefore = _transactions.CorruptReports;
        var askedAtMs = NowMs;
        var ids = chunks.Select(c => c.Id).ToList();
        var reportedBefore = _transactions.CorruptReportSequence;
        var answers = await Task.WhenAll(nodes.Select(async node =>
            (Node: node, Present: await _presence.HasChunksAsync(node, ids, cancellationToken).ConfigureAwait(false)))).ConfigureAwait(false);
        return new NodeAnswers(answers, chunks, deletionsBefore, corruptBefore, reportedBefore, askedAtMs);
    }

    /// <summary>
    /// The nodes' answers recorded in a locked step of their own (a commit about to wait for its events), their puts
    /// ended once written. Taken whenever such a commit asked the nodes, whether or not it writes anything (a step that
    /// wrote nothing was once skipped, and the number of waits for the lock told a user whether another account once
    /// stored the content).
    /// </summary>
    private void RecordAnswersAlone(string ns, NodeAnswers? answers, Func<string, bool> live)
    {
        if (answers is null)
        {
            return;
        }

        Mutate<object?>(null, (batch, _) =>
        {
            RecordAnswers(batch, ns, answers, live);
            return null;
        });
        EndPuts(ns, answers);
    }

    /// <summary>
    /// Records what the nodes said they hold (see <see cref="VerifyWithNodesAsync"/>), and drops the account's
    /// "uploaded" mark of a chunk they do not bear out: in the commit's locked step and before its checks (which then
    /// see it), or, for a commit that waits for its events, in a step of its own before the wait
    /// (<see cref="RecordAnswersAlone"/>). In the commit's step it is written with the commit's batch, refused or not
    /// (a refusal's write waits for no WAL sync), and not at all when that step throws (the account removed, an internal
    /// error) or the call is cancelled before it: the next commit then asks the nodes again. Either way every commit that
    /// does not wait takes the lock once, whether or not the nodes were asked, and whatever anyone else stores.
    /// </summary>
    private void RecordAnswers(RecordBatch batch, string ns, NodeAnswers? answers, Func<string, bool> live)
    {
        if (answers is null)
        {
            return;
        }

        answers.Landed.Clear();
        answers.Owned.Clear();
        if (_transactions.ChunkDeletions != answers.DeletionsBefore || _transactions.CorruptReports != answers.CorruptBefore)
        {
            // The collector deleted chunks from nodes while they answered, or a node reported copies corrupt: an
            // answer may name bytes now gone or quarantined (and a deleted record would take it as a re-upload, a
            // reported one would list its node again). Trust none; the commit is refused as missing and the
            // client uploads again.
            return;
        }

        var now = NowMs;
        var freshSince = now - ((long)_options.GcGracePeriod.TotalMilliseconds / 60);
        var chunks = answers.Chunks;
        foreach (var (node, present) in answers.Answers)
        {
            if (!_nodeRegistry.MayHoldNewCopies(node.NodeId) || !_nodeRegistry.TryGet(node.NodeId, out var current) || current.Draining)
            {
                // Forgotten (or being forgotten) since it answered: a copy recorded there now would outlive the
                // forget's clearing, and the commit would be acknowledged on a node that is gone. Draining since it
                // answered: recorded now, a copy found only there could land after the drain was reported done (the
                // commit may have waited for its events meanwhile), as for a node draining when the commit began.
                continue;
            }

            for (var i = 0; i < chunks.Count; i++)
            {
                // Reported corrupt by this node since it was asked: even a report that removed no holder (a copy held
                // only unconfirmed there, or not recorded yet) may be of what it said it holds, quarantined since; listed
                // again, the ledger would count a copy without the bytes. Its answers about other chunks stand (a
                // node re-sends its whole quarantined set every 5 minutes).
                if (present[i] && !_transactions.ReportedCorruptSince(node.NodeId, chunks[i].Id, answers.ReportedBefore))
                {
                    if (ChunkLedger.AlreadyStoredOn(batch.GetChunk(chunks[i].Id), node.NodeId, freshSince))
                    {
                        // Recorded so already (the node's own event): rewriting it would only move the grace clock
                        // by under a 60th of the grace. Ended as a put all the same.
                        answers.Landed.Add((node.NodeId, chunks[i].Id));
                        continue;
                    }

                    // The node confirms presence only: sizes and encoding stay as known (or unknown, 0) rather
                    // than taking the committing client's word, which would then stand for every account.
                    if (MarkStored(batch, node.NodeId, chunks[i].Id, 0, ChunkEncoding.Raw, 0, now, verified: true))
                    {
                        answers.Landed.Add((node.NodeId, chunks[i].Id));
                    }
                }
            }
        }

        foreach (var chunk in chunks)
        {
            var mark = batch.GetNamespaceChunk(ns, chunk.Id);
            // Judged on nodes that may hold new copies, live or not: a mark whose copies are on a node that fell
            // silent is kept (the commit refuses it, the plan asks for its copies on other nodes, and its copy counts again
            // once the node is back); dropped, that copy would never count again.
            if (!OwnCopies.HeldFor(mark, batch.GetChunk(chunk.Id), _nodeRegistry.MayHoldNewCopies, _nodeRegistry.MayHoldNewCopies))
            {
                // The plan counted it held on an untrusted event the nodes do not bear out (the bytes are gone), or on
                // a copy the commit does not count (its node is being forgotten): without the mark the next plan asks
                // for it rather than sending the client round in circles. Only a mark written before the nodes were
                // asked: a later one is a later put's event, which their "not held" predates (dropped, the account's
                // next plan would ask for bytes it has just put).
                if (mark is { Refs: 0, UploadedUnixMs: > 0 } && mark.UploadedUnixMs <= answers.AskedAtMs)
                {
                    batch.PutNamespaceChunk(ns, chunk.Id, null);
                }
            }
            else if (Owns(mark) && OwnCopies.HeldFor(mark, batch.GetChunk(chunk.Id), _nodeRegistry.MayHoldNewCopies, live) && !answers.Owned.Contains(chunk.Id))
            {
                // Held as the commit counts it (own copies on nodes live when judged: a copy on a put node that fell
                // silent ended the event wait here, at the first event from anywhere, and the commit was then refused),
                // and this account's own (its event came, not trusted, so it left the put pending): the put is
                // done. Left pending, it would be asked about again by every commit until its token expired, and
                // count against the account's outstanding puts.
                answers.Owned.Add(chunk.Id);
            }
        }
    }

    /// <summary>
    /// Ends the puts of the copies <see cref="RecordAnswers"/> recorded, once the commit's batch is written (a node report
    /// reads the puts, then the records). Not after a failed commit: its puts then end when they expire.
    /// </summary>
    private void EndPuts(string ns, NodeAnswers? answers)
    {
        if (answers is null)
        {
            return;
        }

        foreach (var (node, id) in answers.Landed)
        {
            _nodeRegistry.PutLanded(node, id);
        }

        if (answers.Owned.Count > 0 && _namespaces.TryGetValue(ns, out var state))
        {
            foreach (var id in answers.Owned)
            {
                state.Pending.Remove(id);
            }
        }
    }

    private static bool MarkStored(RecordBatch batch, string nodeId, ChunkId id, uint size, ChunkEncoding encoding, uint storedSize, long now, bool verified) =>
        ChunkLedger.MarkStored(batch, nodeId, id, size, encoding, storedSize, now, verified);
}
