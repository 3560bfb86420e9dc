using System.Runtime.CompilerServices;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// Download plans by pages: a file of any size the server accepts is planned a page at a time (each page names every
/// node and token once), fetched as the download reaches it, so its tokens are fresh and no answer nears the message
/// limit. An older server answers the first request with the whole plan in the original form; that works too.
/// </summary>
internal static class DownloadPlans
{
    /// <summary>Chunks asked for per page.</summary>
    public const uint PageSize = 4096;

    /// <summary>The first page of the current (or given) version's plan.</summary>
    public static GetDownloadPlanRequest FirstPage(string path, ulong version = 0) => new() { Path = path, Version = version, Limit = PageSize };

    /// <summary>
    /// Every chunk of the plan whose first page is <paramref name="first"/>, in file order and in the original form
    /// (nodes and tokens in each ChunkGet); later pages are asked for the same version as the first, when reached.
    /// </summary>
    public static async IAsyncEnumerable<ChunkGet> ChunksAsync(IMetadataRemote remote, string path, GetDownloadPlanResponse first, [EnumeratorCancellation] CancellationToken ct)
    {
        var page = first;
        var version = first.Entry.Version;
        var total = first.TotalChunks;
        ulong offset = 0;
        while (true)
        {
            foreach (var get in page.Chunks)
            {
                yield return Expand(page, get);
            }

            offset += (ulong)page.Chunks.Count;
            if (!page.HasMore)
            {
                yield break;
            }

            // A server that says "more" must make progress and stay within the total it announced: no endless pages.
            if (page.Chunks.Count == 0 || offset >= total)
            {
                throw new DropboxException(ErrorKind.Internal, $"The server's download plan of '{path}' is inconsistent: more chunks announced after {offset} of {total}.");
            }

            page = await remote.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = path, Version = version, Offset = (uint)offset, Limit = PageSize }, ct).ConfigureAwait(false);

            // Every page must describe the version the first one did: chunks of two versions never make one file.
            if (page.Entry is null || page.Entry.Version != version || page.TotalChunks != total)
            {
                throw new DropboxException(ErrorKind.Internal, $"The server's download plan of '{path}' is inconsistent: a later page describes version {page.Entry?.Version} of {page.TotalChunks} chunks, the first version {version} of {total}.");
            }
        }
    }

    /// <summary>A chunk of a compact page with its nodes and tokens filled in; one in the original form as is.</summary>
    public static ChunkGet Expand(GetDownloadPlanResponse page, ChunkGet get)
    {
        if (get.NodeIndexes.Count == 0)
        {
            return get;
        }

        if (get.TokenIndexes.Count != get.NodeIndexes.Count)
        {
            throw new DropboxException(ErrorKind.Internal, "The server's download plan names a different number of nodes and tokens for a chunk.");
        }

        var full = new ChunkGet { Chunk = get.Chunk };
        for (var i = 0; i < get.NodeIndexes.Count; i++)
        {
            var node = get.NodeIndexes[i];
            var token = get.TokenIndexes[i];
            if (node >= page.Nodes.Count || token >= page.Tokens.Count)
            {
                throw new DropboxException(ErrorKind.Internal, "The server's download plan refers to a node or token it does not list.");
            }

            full.Nodes.Add(page.Nodes[(int)node]);
            full.Tokens.Add(page.Tokens[(int)token]);
        }

        return full;
    }
}
