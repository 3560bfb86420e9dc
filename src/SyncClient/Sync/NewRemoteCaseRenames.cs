using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The executor's part of <see cref="NewRemoteCaseRules"/>: runs a <see cref="SyncActionKind.CaseRenameRemote"/> (the new
/// remote file renamed on the server, conditionally, with the version listed, to the first free "(Case Conflict)" name)
/// and reports a <see cref="SyncActionKind.CaseHoldRemote"/>. Either way the newcomer is pending and the next pass looks
/// at once (a renamed one comes down under its new name, a held one is taken or looked at again).
/// </summary>
internal sealed class NewRemoteCaseRenames
{
    /// <summary>
    /// Most names one pass tries for one new remote file the server refuses to rename because the name exists there.
    /// The names refused are remembered in memory only (<see cref="CaseNamesRefused"/>), so a <c>sync --once</c> run
    /// starts again from the first free one: this is enough to get past a run of "(Case Conflict N)" names the server
    /// holds for paths this pass does not (ignored here) in one pass, and small enough that a server refusing every name
    /// costs a bounded number of calls.
    /// </summary>
    internal const int MaxMoves = 32;

    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly CaseNamesRefused _refused;

    /// <summary>The names this pass's renames took, case-folded (a later rename of the pass never picks one, in any case).</summary>
    private readonly HashSet<string> _picked = new(StringComparer.Ordinal);

    /// <summary>The new name this pass's renames gave each clashing part: the other files under a clashing folder follow it there.</summary>
    private readonly Dictionary<string, string> _renamedParts = new(StringComparer.Ordinal);

    public NewRemoteCaseRenames(SyncContext ctx, SyncSummary summary, CaseNamesRefused refused)
    {
        _ctx = ctx;
        _summary = summary;
        _refused = refused;
    }

    /// <summary>Runs or reports <paramref name="a"/> (its <see cref="SyncAction.CaseClash"/> says what was decided).</summary>
    public async Task RunAsync(SyncAction a, CancellationToken ct)
    {
        var c = a.CaseClash!;
        switch (c.Outcome)
        {
            case NewRemoteCaseOutcome.TakenNextPass:
                _summary.AddPending();
                _summary.RecheckWithin(TimeSpan.Zero);
                _summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(c.Path)}' differs only in case from '{SyncPaths.Display(c.Other)}', which goes this pass; it is taken at the next");
                return;
            case NewRemoteCaseOutcome.HeldBack:
                _summary.AddPending();
                _summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(c.Path)}' differs only in case from '{SyncPaths.Display(c.Other)}' here, and whether this folder tells them apart could not be probed; it is held back (not downloaded, not renamed) until it can");
                return;
        }

        var target = a.ToPath!;
        // Follows only onto a path the rule found free (or planned itself): the rule may have sent it elsewhere because
        // its name under that folder differs only in case from another file's there.
        var rest = c.Path[c.Clash.Length..];
        var follows = _renamedParts.TryGetValue(c.Clash, out var part)
            && (part + rest == target || (NewRemoteCaseRules.FreeUnder(c.NamesInUse, part, rest) && !IsPicked(part + rest)));
        if (follows)
        {
            target = part + rest; // where this pass renamed another file of the same clashing folder
        }

        for (var attempt = 1; ; attempt++)
        {
            // The rule's pick (or the folder's, as renamed), unless a rename of this pass has since taken it or the server refused it.
            if (attempt > 1 || (!follows && (IsPicked(RenamedPart(c, target)) || _refused.Names.Contains(RenamedPart(c, target)))))
            {
                target = NewRemoteCaseRules.TargetOf(c.Path, c.Clash, p => c.NamesInUse.Contains(p) || _refused.Names.Contains(p) || IsPicked(p));
            }

            try
            {
                await _ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = c.Path, ToPath = target, BaseVersion = c.Version, Device = _ctx.Device }, ct).ConfigureAwait(false);
                _picked.Add(SyncPaths.CaseFoldKey(target));
                _renamedParts[c.Clash] = RenamedPart(c, target);
                _summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(c.Path)}' differs only in case from '{SyncPaths.Display(c.Other)}' here; it was renamed to '{SyncPaths.Display(target)}' on the server and is downloaded under that name");
                break;
            }
            catch (DropboxException e)
            {
                if (e.Kind == ErrorKind.AlreadyExists)
                {
                    // The name is taken on the server by a path this pass does not hold (ignored here, or new there
                    // since the listing): never picked again by this engine; the next free one is tried.
                    _refused.Add(RenamedPart(c, target));
                    if (attempt < MaxMoves)
                    {
                        continue;
                    }
                }

                // Changed or renamed meanwhile (by its device, or by another that folds case): looked at again next pass.
                _summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(c.Path)}' could not be renamed on the server ({e.Message}); tried again next pass");
                break;
            }
        }

        _summary.AddPending();
        _summary.RecheckWithin(TimeSpan.Zero);
    }

    /// <summary>The renamed clashing part of <paramref name="target"/> (what the server found taken).</summary>
    private static string RenamedPart(NewRemoteCaseClash c, string target) => NewRemoteCaseRules.RenamedPart(c.Path, c.Clash, target);

    /// <summary>True when a rename of this pass took <paramref name="clashName"/> (a renamed clashing part) or a path under it, in any case.</summary>
    private bool IsPicked(string clashName)
    {
        var key = SyncPaths.CaseFoldKey(clashName);
        return _picked.Any(p => p == key || p.StartsWith(key + "/", StringComparison.Ordinal));
    }
}
