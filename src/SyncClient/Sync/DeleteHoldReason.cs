namespace Dropbox.SyncClient.Sync;

/// <summary>Why the planner held a pass's deletions back (see <see cref="SyncPlanner.HoldDeletes"/>).</summary>
internal enum DeleteHoldReason
{
    /// <summary>The folder is empty and the plan deletes files on the server.</summary>
    EmptyFolder,

    /// <summary>The plan deletes more files (here and remotely) than the guard's share of the synced ones.</summary>
    MassDelete,

    /// <summary>The first pass of a db from before folder markers deletes something on the server.</summary>
    OldDbFirstPass,
}
