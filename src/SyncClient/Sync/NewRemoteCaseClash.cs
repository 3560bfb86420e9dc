namespace Dropbox.SyncClient.Sync;

/// <summary>
/// One new remote file whose name, or a folder above it, differs only in case from a name here (or from another new
/// remote name of the pass), as <see cref="NewRemoteCaseRules.Decide"/> found it: left out of the pass's downloads
/// (withheld), and renamed on the server or held as <see cref="Outcome"/> says.
/// </summary>
/// <param name="Path">The new remote file.</param>
/// <param name="Clash">Its outermost part that clashes (the file itself, or a folder above it): what a rename renames whole.</param>
/// <param name="Other">The name here that <see cref="Clash"/> differs from only in case.</param>
/// <param name="Outcome">What becomes of it this pass.</param>
/// <param name="Version">The server's version of <see cref="Path"/> as listed (a rename on the server is conditional on it).</param>
/// <param name="Target">For <see cref="NewRemoteCaseOutcome.RenameOnServer"/>: the first name tried (null otherwise).</param>
/// <param name="NamesInUse">The names a rename must never pick (here, in the pass's remote view, in any case).</param>
internal sealed record NewRemoteCaseClash(string Path, string Clash, string Other, NewRemoteCaseOutcome Outcome, ulong Version, string? Target, CaseNamesInUse NamesInUse);
