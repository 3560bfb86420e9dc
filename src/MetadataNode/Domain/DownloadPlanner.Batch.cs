using Dropbox.Shared.Errors;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class DownloadPlanner
{
    /// <summary>
    /// The download plans of many files in one answer: per file the first page <see cref="GetDownloadPlan"/> would give
    /// with its limit (0: <see cref="DefaultBatchPlanPage"/>), with nodes and get tokens shared by the whole answer, so
    /// one token covers chunks of several files on one node (runs of up to <see cref="Limits.ChunksPerGetToken"/>). A
    /// file that is gone, deleted or a folder gets null. Within the account's work budget, one unit
    /// per chunk answered for.
    /// </summary>
    public async Task<IReadOnlyList<DownloadPlan?>> GetDownloadPlansAsync(NamespaceState ns, IReadOnlyList<DownloadRequest> files, CancellationToken cancellationToken)
    {
        if (files.Count > Limits.MaxFilesPerBatch)
        {
            throw Limits.TooManyFiles(files.Count);
        }

        var entries = new PathEntry?[files.Count];
        var counts = new int[files.Count];
        long units = 0;
        for (var i = 0; i < files.Count; i++)
        {
            var path = PathGuard.Normalize(files[i].Path);
            PathEntry entry;
            try
            {
                entry = ReadEntry(ns.Id, path, files[i].Version);
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
            {
                continue;
            }

            if (entry.Kind == PathKind.Folder)
            {
                continue;
            }

            var limit = files[i].Limit == 0 ? DefaultBatchPlanPage : Math.Min(files[i].Limit, (uint)Limits.MaxDownloadPlanPage);
            entries[i] = entry;
            counts[i] = (int)Math.Min(limit, (uint)entry.Chunks.Count);
            units += counts[i];
        }

        if (units > Limits.MaxDownloadPlanPage)
        {
            throw new DropboxException(ErrorKind.ResourceExhausted, $"The download plans asked for in one call hold {units} chunks; the limit is MaxDownloadPlanPage = {Limits.MaxDownloadPlanPage}. Ask for fewer files (or smaller limits) per call.");
        }

        using var lease = await ns.Work.EnterAsync(units, cancellationToken).ConfigureAwait(false);

        // Every chunk answered for, in one list: holders and tokens are worked out over it as over one file's page.
        var union = new List<ChunkRef>((int)units);
        for (var i = 0; i < files.Count; i++)
        {
            for (var j = 0; j < counts[i]; j++)
            {
                union.Add(entries[i]!.Chunks[j]);
            }
        }

        var holders = Holders("one of the files asked for", union, 0, union.Count);
        var tokens = GetTokens(ns.Id, union, 0, holders);
        var plans = new DownloadPlan?[files.Count];
        var at = 0;
        for (var i = 0; i < files.Count; i++)
        {
            if (entries[i] is not { } entry)
            {
                continue;
            }

            var sources = new List<ChunkSource>(counts[i]);
            for (var j = 0; j < counts[i]; j++, at++)
            {
                sources.Add(new ChunkSource(entry.Chunks[j], holders[at], tokens[at]));
            }

            plans[i] = new DownloadPlan(entry, sources, Paged: true, HasMore: counts[i] < entry.Chunks.Count);
        }

        return plans;
    }

    /// <summary>Chunks of a file's first page in <see cref="GetDownloadPlansAsync"/> when its request names no limit.</summary>
    public const uint DefaultBatchPlanPage = 4096;
}
