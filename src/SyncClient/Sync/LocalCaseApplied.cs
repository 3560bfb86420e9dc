namespace Dropbox.SyncClient.Sync;

/// <summary>How a local case-clash outcome went when applied (<see cref="LocalCaseSnapshot.Apply"/> edits the snapshot by it).</summary>
internal enum LocalCaseApplied
{
    /// <summary>Not renamed: it waits, the server refused its rename (a pass's wait), or the rename here failed. Withheld, with all under a folder.</summary>
    LeftAlone,

    /// <summary>Renamed here alone: a file is taken under its new name this pass, a folder by the next.</summary>
    Renamed,

    /// <summary>Renamed on the server too, or following the server's rename: its rows moved; nothing under either name is taken this pass.</summary>
    RenamedWithRows,

    /// <summary>A losing file as synced that follows the server's delete or move: given back to the plan.</summary>
    FollowedServer,
}
