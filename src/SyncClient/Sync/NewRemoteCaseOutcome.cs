namespace Dropbox.SyncClient.Sync;

/// <summary>What becomes of a new remote file whose name clashes in case with a name here (see <see cref="NewRemoteCaseRules"/>).</summary>
internal enum NewRemoteCaseOutcome
{
    /// <summary>The other name goes this pass (deleted or moved on the server): the newcomer waits one pass, then is taken under its own name.</summary>
    TakenNextPass,

    /// <summary>
    /// The probe could not tell whether the folder folds case: held back (not downloaded, not renamed), remembered as
    /// withheld, until a pass whose probe answers.
    /// </summary>
    HeldBack,

    /// <summary>Renamed on the server to its "(Case Conflict)" name, and downloaded under that name by the next pass.</summary>
    RenameOnServer,
}
