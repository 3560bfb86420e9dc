namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>A live server entry: its kind, version (the sequence of its last change) and content id (0 for folders).</summary>
internal sealed record ServerNode(ModelKind Kind, ulong Version, int Content);
