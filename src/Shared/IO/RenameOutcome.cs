namespace Dropbox.Shared.IO;

/// <summary>What a rename that must not replace blindly (<see cref="FileRename"/>) did.</summary>
public enum RenameOutcome
{
    /// <summary>Done.</summary>
    Done,

    /// <summary>Not done: something (a file, folder or link) is at the destination.</summary>
    DestinationExists,

    /// <summary>Not done: nothing is at the destination to exchange with.</summary>
    DestinationMissing,

    /// <summary>Not done: this system or file system cannot do it; nothing was changed.</summary>
    NotSupported,
}
