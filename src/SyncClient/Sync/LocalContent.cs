using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Reads what a plan needs of the scanned files: the content of those the planner needs (see
/// <see cref="SyncPlanner.NeedsContent"/>), and, for a pass that waits for files still being written
/// (<see cref="SyncOptions.WaitForStable"/>), the files its plan waits for once they held still. It decides nothing:
/// a file that changed between the scan and its read gets no fingerprint, which the planner reports as pending; one that
/// could not be read (no permission, an I/O error) gets none either and goes on the unreadable list, which the planner
/// leaves alone (<see cref="SyncPlanner.UnreadableReason"/>): one such file never fails the pass.
/// </summary>
internal sealed class LocalContent(SyncContext ctx, FileHasher hasher)
{
    /// <summary>
    /// The first waits before a file that could not be read is read again (as a folder a walk could not read, see
    /// <see cref="Stability.MinFolderSettleAge"/>): a permission being fixed, a file being replaced. One that stays
    /// unreadable backs off (<see cref="UncheckedFolderBackoff.ReadError"/>: 1 min doubling to 1 h).
    /// </summary>
    internal static readonly TimeSpan UnreadableRetry = Stability.MinFolderSettleAge;

    /// <summary>
    /// The fingerprints of the scanned files the plan needs; on a reconcile pass, repairs the bases it finds wrong (in
    /// <paramref name="bases"/> and, smudged, in the db).
    /// </summary>
    public async Task<Dictionary<string, FileFingerprint>> ReadAsync(LocalSnapshot snapshot, Dictionary<string, FileRecord> bases, SyncSummary summary, EarlyReads early,
        Dictionary<string, UnreadableFile> unreadable, CancellationToken ct)
    {
        var result = new Dictionary<string, FileFingerprint>(StringComparer.Ordinal);
        var reconcile = ctx.Options.Reconcile;
        await HashAsync(snapshot.Entries.Values.Where(e => SyncPlanner.NeedsContent(e, bases.GetValueOrDefault(e.Path), reconcile)).ToList(), result, unreadable, early, ct).ConfigureAwait(false);
        if (reconcile)
        {
            // Same size and mtime but different bytes: the db's shortcut was wrong. Make the planner see a change, and
            // the db keep it (smudged, see RacyClean): a repaired file this pass does not sync (it waits while still
            // being written, or its upload fails) would otherwise look clean to the next pass, and a remote edit then
            // be downloaded over bytes never uploaded. The next read of it decides (the same bytes: the plain mtime again).
            foreach (var (path, fp) in result)
            {
                if (bases.TryGetValue(path, out var b) && FileStamp.Of(b) == FileStamp.Of(fp) && !b.ContentHash.AsSpan().SequenceEqual(fp.ContentHash))
                {
                    var smudged = RacyClean.Recorded(b.MtimeTicks, racy: true);
                    ctx.Db.Touch(path, smudged, null);
                    bases[path] = b with { MtimeTicks = smudged, ChangeTimeNs = null };
                    summary.AddRepair($"'{path}' changed without its size or time changing; it is synced again");
                }
            }
        }

        return result;
    }

    /// <summary>
    /// For a pass that has no next pass (<c>sync --once</c>): waits until the youngest of the files <paramref name="plan"/>
    /// waits for has reached the stable age (at most the stable age), then takes those whose size and mtime did not move
    /// meanwhile as settled (in <paramref name="snapshot"/>) and reads them into <paramref name="fingerprints"/>. True
    /// when any did: the caller plans again. The others keep their observation, so the new plan waits for them again.
    /// </summary>
    public async Task<bool> WaitForStableAsync(List<SyncAction> plan, LocalSnapshot snapshot, Dictionary<string, FileFingerprint> fingerprints,
        Dictionary<string, UnreadableFile> unreadable, List<DisplacedFile> displaced, CancellationToken ct)
    {
        var young = plan.Where(a => a.Kind == SyncActionKind.Wait && a.Local is not null).Select(a => a.Local!).ToList();
        // A leftover kept for a later pass because it was still being written waits here too (its copy is then sent now).
        var youngLeftovers = displaced.FindAll(d => d.SettlesIn is not null && d.Fingerprint is not null);
        if (young.Count == 0 && youngLeftovers.Count == 0)
        {
            return false;
        }

        var stableAge = ctx.Options.StableAge;
        var newest = young.Select(e => e.MtimeTicks).Concat(youngLeftovers.Select(d => d.Fingerprint!.MtimeTicks)).Max();
        var wait = stableAge - (ctx.Time.GetUtcNow().UtcDateTime - new DateTime(newest, DateTimeKind.Utc));
        if (wait > TimeSpan.Zero)
        {
            ctx.Progress.Phase = "waiting for files still being written";
            ctx.Progress.Log($"waiting {Format.Duration(wait + TimeSpan.FromSeconds(0.999))} for {young.Count + youngLeftovers.Count} file(s) modified in the last {Format.Duration(stableAge)}");
            await Task.Delay(wait < stableAge ? wait : stableAge, ctx.Time, ct).ConfigureAwait(false);
        }

        var leftoversSettled = 0;
        foreach (var leftover in youngLeftovers)
        {
            var read = leftover.Fingerprint!;
            if (FileHasher.IsAsScanned(ctx.FullPath(leftover.Holding), read.Size, read.MtimeTicks, read.ChangeTimeNs))
            {
                // Held still for the whole stable age, as read: settled (the plan reads the list again).
                displaced[displaced.IndexOf(leftover)] = leftover with { SettlesIn = null };
                leftoversSettled++;
            }
        }

        var settled = new List<LocalEntry>(young.Count);
        foreach (var entry in young)
        {
            if (FileHasher.IsAsScanned(ctx.FullPath(entry.ReadAt ?? entry.Path), entry.Size, entry.MtimeTicks))
            {
                // Held still for the whole stable age: the observation after the wait is "settled".
                var held = entry with { SettlesIn = null };
                snapshot.Entries[entry.Path] = held;
                settled.Add(held);
            }
        }

        await HashAsync(settled, fingerprints, unreadable, null, ct).ConfigureAwait(false);
        return settled.Count > 0 || leftoversSettled > 0;
    }

    private async Task HashAsync(List<LocalEntry> work, Dictionary<string, FileFingerprint> result, Dictionary<string, UnreadableFile> unreadable, EarlyReads? early, CancellationToken ct)
    {
        await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 4), CancellationToken = ct }, async (entry, token) =>
        {
            var full = ctx.FullPath(entry.ReadAt ?? entry.Path); // a file the plan renames first is read at its old name
            FileFingerprint? fp;
            try
            {
                fp = (early is null ? null : await early.TakeAsync(entry, full).ConfigureAwait(false))
                    ?? await hasher.TryHashAsync(full, ctx.KnownChunksOf(entry.Path, entry.Size), token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // This one file (a chmod 000, a bad sector): the planner leaves it alone and every other file syncs.
                var recheck = ctx.UnreadableFiles.ReadError(entry.Path, ctx.Time, UnreadableRetry);
                lock (unreadable)
                {
                    unreadable[entry.Path] = new UnreadableFile(e.Message, recheck);
                }

                return;
            }

            ctx.UnreadableFiles.Forget(entry.Path);
            // Written to between the scan and the read: the stability observation was made on the scan's size and
            // mtime, so leave it (no fingerprint: pending) for the next pass to judge afresh.
            if (fp is not null && FileStamp.Of(fp) == FileStamp.Of(entry))
            {
                lock (result)
                {
                    result[entry.Path] = fp;
                }
            }
        }).ConfigureAwait(false);
    }
}
