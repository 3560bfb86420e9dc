namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>The random edits, on the local folder (by a user) or on the server (by another device).</summary>
internal enum EditKind
{
    /// <summary>New content (new mtime; the size may stay).</summary>
    Edit,

    /// <summary>A new mtime, the same content (locally); remotely a new version of the same content.</summary>
    Touch,

    DeleteFile,

    /// <summary>A folder with everything under it.</summary>
    DeleteFolder,

    CreateFile,

    CreateFolder,

    /// <summary>Rename or move a file (locally keeps size and mtime; remotely one move change).</summary>
    Rename,

    /// <summary>Rename a file or folder to its name with the first letter's case flipped.</summary>
    CaseRename,

    /// <summary>A file becomes a folder (with a file inside), or a folder a file.</summary>
    TypeChange,

    /// <summary>Locally: the path becomes unreadable (a folder) or a symbolic link (a file). Remotely: a copy.</summary>
    Withhold,

    /// <summary>A new file with the content of an existing one (ambiguous move candidates).</summary>
    Copy,
}
