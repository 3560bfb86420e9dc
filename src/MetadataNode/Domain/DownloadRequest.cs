namespace Dropbox.MetadataNode.Domain;

/// <summary>One file of a batch of download plans, as asked.</summary>
/// <param name="Path">The path (normalized and checked by the planner).</param>
/// <param name="Version">The version; 0 for the current one.</param>
/// <param name="Limit">Chunks of its first page; 0 for <see cref="DownloadPlanner.DefaultBatchPlanPage"/>.</param>
internal sealed record DownloadRequest(string? Path, ulong Version, uint Limit);
