namespace Dropbox.SyncClient.State;

/// <summary>What a tracked path is.</summary>
internal enum FileKind
{
    File = 0,
    Folder = 1,
}
