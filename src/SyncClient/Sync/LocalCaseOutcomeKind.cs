namespace Dropbox.SyncClient.Sync;

/// <summary>What becomes of a local name that clashes in case (<see cref="LocalCaseRules.Decide"/>).</summary>
internal enum LocalCaseOutcomeKind
{
    /// <summary>A losing file as synced whose server path this pass deletes or moves: given back to the plan, which applies the server's change to it.</summary>
    FollowServer,

    /// <summary>Still being written, or not seen whole: withheld this pass, its wait in the plan.</summary>
    Wait,

    /// <summary>Renamed to <see cref="LocalCaseOutcome.Target"/> (on the server first where it holds the name).</summary>
    Rename,

    /// <summary>No <c>(Case Conflict N)</c> name is free: the pass stops with an error (renamed by hand).</summary>
    NoFreeName,
}
