namespace Dropbox.MetadataNode.Domain;

/// <summary>A version's chunks (all of them, or one page) and where to fetch each.</summary>
/// <param name="Entry">The version planned.</param>
/// <param name="Chunks">The chunks of this plan, in file order, from the page's offset.</param>
/// <param name="Paged">One page was asked for (a limit given); else the whole plan.</param>
/// <param name="HasMore">A paged plan: chunks follow the last one of this page.</param>
internal sealed record DownloadPlan(PathEntry Entry, IReadOnlyList<ChunkSource> Chunks, bool Paged, bool HasMore);
