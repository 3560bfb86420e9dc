namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>File or folder, on either side of the model.</summary>
internal enum ModelKind
{
    File,
    Folder,
}
