namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// A hidden leftover in the model's folder (a file a stopped client left under a holding name): its content id, its
/// mtime ticks, and the path of the file it displaced as its holding name carries it (null: none).
/// </summary>
internal sealed record LeftoverNode(int Content, long MtimeTicks, string? Original);
