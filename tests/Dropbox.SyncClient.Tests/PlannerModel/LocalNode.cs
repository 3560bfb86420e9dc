namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>A path in the model's local folder: its kind, content id (0 for folders) and mtime ticks.</summary>
internal sealed record LocalNode(ModelKind Kind, int Content, long MtimeTicks);
