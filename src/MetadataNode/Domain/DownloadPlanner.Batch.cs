using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class DownloadPlanner
{
    /// <summary>
    /// The download plans of many files in one answer: per file the first page <see cref="GetDownloadPlan"/> would give
    /// with its limit (0: <see cref="DefaultBatchPlanPage"/>), with nodes and get tokens shared by the whole answer, so
    /// one token covers chunks of several files on one node (runs of up to <see cref="Limits.ChunksPerGetToken"/>). A
    /// file that is gone, deleted or a folder gets a plan without an entry. Within the account's work budget, one unit
    /// per chunk answered for.
    /// </summary>
    public async Task<GetDownloadPlansResponse> GetDownloadPlansAsync(NamespaceState ns, IReadOnlyList<GetDownloadPlanRequest> files, CancellationToken cancellationToken)
    {
        if (files.Count > Limits.MaxFilesPerBatch)
        {
            throw Limits.TooManyFiles(files.Count);
        }

        var entries = new FileEntry?[files.Count];
        var counts = new int[files.Count];
        long units = 0;
        for (var i = 0; i < files.Count; i++)
        {
            var path = PathGuard.Normalize(files[i].Path);
            FileEntry entry;
            try
            {
                entry = ReadEntry(ns.Id, path, files[i].Version);
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
            {
                continue;
            }

            if (entry.Kind == EntryKind.Folder)
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
        var union = new FileEntry();
        for (var i = 0; i < files.Count; i++)
        {
            for (var j = 0; j < counts[i]; j++)
            {
                union.Chunks.Add(entries[i]!.Chunks[j]);
            }
        }

        var holders = Holders("one of the files asked for", union, 0, union.Chunks.Count);
        var tokens = GetTokens(ns.Id, union, 0, holders);
        var response = new GetDownloadPlansResponse();
        var compact = new CompactPlan(response.Nodes, response.Tokens);
        var at = 0;
        for (var i = 0; i < files.Count; i++)
        {
            if (entries[i] is not { } entry)
            {
                response.Plans.Add(new GetDownloadPlanResponse());
                continue;
            }

            var page = new GetDownloadPlanResponse { Entry = entry.Clone(), TotalChunks = (uint)entry.Chunks.Count, HasMore = counts[i] < entry.Chunks.Count };
            page.Entry.Chunks.Clear();
            for (var j = 0; j < counts[i]; j++, at++)
            {
                page.Chunks.Add(compact.Get(entry.Chunks[j], holders[at], tokens[at]));
            }

            response.Plans.Add(page);
        }

        return response;
    }

    /// <summary>Chunks of a file's first page in <see cref="GetDownloadPlansAsync"/> when its request names no limit.</summary>
    public const uint DefaultBatchPlanPage = 4096;
}
