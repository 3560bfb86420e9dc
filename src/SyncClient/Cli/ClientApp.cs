using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Dropbox.Shared.Channels;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// The command line: parses a verb and runs it (login and sync here; the verbs that look and restore are
/// <see cref="BrowseCommands"/>). Exit codes: 0 ok, 1 errors, 2 usage, 3 mass-delete guard.
/// </summary>
internal sealed class ClientApp
{
    public const string Usage = """
        Usage: dropbox-client VERB [options]
          login --server URL --token TOKEN --folder DIR [--state DIR] [--device NAME]
                [--ca FILE | --fingerprint SHA256:HEX]
                --ca: trust https servers whose certificate this CA issued (standalone prints its path);
                --fingerprint: trust exactly the certificate with this fingerprint (standalone prints it);
                neither: the system's trusted CAs.
                [--parallelism N] [--mass-delete-share 0.5] [--mass-delete-min 10]   (share: in (0, 1])
                [--reconcile-interval 24h] [--stable-age 2s]
          sync [--once] [--json] [--now] [--pause | --resume] [--limit-up RATE] [--limit-down RATE] [--reconcile] [--allow-mass-delete]
               [--confirm-new-folder] [--parallelism N] [--state DIR]
               [--reconcile-interval 24h] [--stable-age 2s]
               --once: one two-way pass, then exit.  Without it: the daemon (watcher + long poll).
               --now: ask the running daemon for an immediate pass (or run one pass if none runs).
               --pause, --resume: ask the running daemon to stop starting passes, or to start again.
               --limit-up RATE, --limit-down RATE: chunk bytes per second (500k, 2M, 1G; powers of 1024; at least
                 64k, so chunks in flight go within the 15-minute life of their transfer tokens).
               --reconcile: a full comparison by fingerprint that repairs divergence (the daemon runs one
                 every --reconcile-interval; units ms, s, m, h, d).
               --stable-age: a changed file is uploaded only once unmodified this long (0 turns it off);
                 --once waits for such files once, the daemon comes back for them. Still-changing files
                 are reported as pending.
               --confirm-new-folder: the folder at the linked path is not the one synced (its .dropbox-folder-id
                 marker is missing: replaced, a drive not mounted): take it as new, merged with the server, nothing deleted.
               Ctrl-C or SIGTERM stops after the current step with exit code 0 (a second Ctrl-C: at once, 130).
          status | ls [PATH] [--deleted] | history PATH | conflicts | link PATH [--version N]
          restore PATH [--version N]   (a folder: every deleted file under it)
          --json on sync, status, ls, history, restore, conflicts and link: one JSON object per line on stdout.
          --version; VERB --help lists a verb's options. Unknown options are refused (exit 2).
        The state directory (db, settings, trash) is --state, else $DROPBOX_CLIENT_STATE, else ~/.dropbox-client.
        """;

    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly bool _terminal;
    private readonly BrowseCommands _browse;

    public ClientApp(TextWriter output, TextWriter error, bool terminal)
    {
        _out = output;
        _err = error;
        _terminal = terminal;
        _browse = new BrowseCommands(output, error);
    }

    public async Task<int> RunAsync(string[] argv, CancellationToken ct)
    {
        CliArgs? args = null;
        try
        {
            // 'help' with more after it goes through the grammar like any verb, so 'help --bogus' is refused (exit 2).
            if (argv.Length == 0 || argv[0] is "--help" or "-h" or "-?" || argv is ["help"])
            {
                _out.WriteLine(Usage);
                return ExitCodes.Ok;
            }

            var parsed = CliGrammar.Parse(CliGrammar.Build(), argv);
            if (parsed.Errors.Count > 0)
            {
                return Refuse(argv, parsed);
            }

            if (parsed.Action is not HelpAction && parsed.Action is not null && parsed.CommandResult.Parent is null && !IsVersionAlone(argv))
            {
                // The parser lets '--version' through beside anything (its errors are dropped for it, as for --help).
                throw new UsageException($"--version takes nothing else: got '{string.Join(' ', argv)}'.");
            }

            if (parsed.Action is HelpAction || (parsed.Action is not null && parsed.CommandResult.Parent is null)) // --help, --version
            {
                return parsed.Invoke(new InvocationConfiguration { Output = _out, Error = _err });
            }

            args = CliArgs.From(parsed);
            args.CheckTuning();
            if (args.Verb == "help")
            {
                _out.WriteLine(Usage);
                return ExitCodes.Ok;
            }

            return args.Verb switch
            {
                "login" => await LoginAsync(args, ct).ConfigureAwait(false),
                "sync" => await SyncAsync(args, ct).ConfigureAwait(false),
                "status" => await _browse.StatusAsync(args, ct).ConfigureAwait(false),
                "ls" => await _browse.ListAsync(args, ct).ConfigureAwait(false),
                "history" => await _browse.HistoryAsync(args, ct).ConfigureAwait(false),
                "restore" => await _browse.RestoreAsync(args, ct).ConfigureAwait(false),
                "conflicts" => _browse.Conflicts(args),
                "link" => await _browse.LinkAsync(args, ct).ConfigureAwait(false),
                _ => throw new UsageException($"Unknown verb '{args.Verb}'."),
            };
        }
        catch (UsageException e)
        {
            _err.WriteLine("error: " + e.Message);
            _err.WriteLine(Usage);
            return ExitCodes.Usage;
        }
        catch (DropboxException e) when (e.Details.ContainsKey(MassDeleteGuard.DetailKey))
        {
            _err.WriteLine(SyncPaths.Escape(e.Message, keepNewlines: true));
            return ExitCodes.MassDeleteStopped;
        }
        catch (DropboxException e)
        {
            // The message may carry the server's words: no control character reaches the terminal.
            _err.WriteLine("error: " + SyncPaths.Display(e.Message, int.MaxValue));
            return ExitCodes.Errors;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _err.WriteLine("stopped.");
            return ExitCodes.Errors;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _err.WriteLine("error: " + SyncPaths.Display(e.Message, int.MaxValue));
            return ExitCodes.Errors;
        }
        catch (SqliteException e) when (args is not null && LocalState.IsCorrupt(e))
        {
            // Damage that opening the database did not reach (a page read later): the same line as LocalState.Open's.
            var database = Path.Combine(ClientSession.ResolveStateDirectory(args), LocalState.DatabaseFileName);
            _err.WriteLine("error: " + SyncPaths.Display(LocalState.Corrupt(database, e).Message, int.MaxValue));
            return ExitCodes.Errors;
        }
    }

    /// <summary>
    /// A command line the grammar refuses: what was wrong, the library's "did you mean" suggestion, and where to read
    /// more; nothing runs (exit 2).
    /// </summary>
    private int Refuse(string[] argv, ParseResult parsed)
    {
        const string DidYouMean = "Did you mean one of the following?";
        var verb = argv[0];
        var known = CliGrammar.VerbNames.Contains(verb, StringComparer.Ordinal);
        if (!known)
        {
            // Everything after an unknown verb is unknown too: say only what matters.
            _err.WriteLine(verb.StartsWith('-')
                ? $"error: Unknown option '{SyncPaths.Display(verb, 200)}' (a verb comes first: dropbox-client VERB [options])."
                : $"error: Unknown verb '{SyncPaths.Display(verb, 200)}'.");
        }
        else
        {
            foreach (var error in parsed.Errors)
            {
                _err.WriteLine("error: " + SyncPaths.Display(HideValues(error.Message, parsed), 400));
            }
        }

        // The library's typo correction ("'--onc' was not matched. Did you mean one of the following? --once"), without
        // its repetition of the errors above and without the help text.
        if (parsed.Action is ParseErrorAction action)
        {
            action.ShowHelp = false;
            action.ShowTypoCorrections = true;
            using var suggestions = new StringWriter();
            parsed.Invoke(new InvocationConfiguration { Output = suggestions, Error = suggestions });
            var errors = parsed.Errors.Select(e => e.Message).ToHashSet(StringComparer.Ordinal);
            foreach (var line in suggestions.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!known && line.StartsWith("'", StringComparison.Ordinal) && line.EndsWith(DidYouMean, StringComparison.Ordinal))
                {
                    _err.WriteLine(DidYouMean); // the unknown verb was named above, as typed
                }
                else if (!errors.Contains(line) && (known || line.Contains(verb, StringComparison.Ordinal) || CliGrammar.VerbNames.Contains(line)))
                {
                    var shown = SyncPaths.Display(HideValues(line, parsed), 400);
                    _err.WriteLine(line.StartsWith("--", StringComparison.Ordinal) || CliGrammar.VerbNames.Contains(line) ? "  " + shown : shown);
                }
            }
        }

        _err.WriteLine(known && verb != "help" ? $"Run 'dropbox-client {verb} --help' for its options." : "Run 'dropbox-client help' for the verbs and their options.");
        return ExitCodes.Usage;
    }

    /// <summary>
    /// The values on a refused command line are never echoed: an unrecognized argument that is not an option may be
    /// the value of a mistyped one (<c>login --tokn SECRET</c>), so it is shown as <c>(value hidden)</c>, and so is
    /// what follows '=' or ':' in an unrecognized <c>--option=value</c>. Option names are shown as typed.
    /// </summary>
    private static string HideValues(string text, ParseResult parsed)
    {
        foreach (var token in parsed.UnmatchedTokens.Distinct(StringComparer.Ordinal).OrderByDescending(t => t.Length))
        {
            string hidden;
            if (!token.StartsWith('-'))
            {
                hidden = "(value hidden)";
            }
            else if (token.IndexOfAny(['=', ':']) is var at and > 0)
            {
                hidden = token[..(at + 1)] + "(value hidden)";
            }
            else
            {
                continue;
            }

            // Quoted as the library quotes tokens; a long token (a token, a password) wherever it appears.
            text = text.Replace("'" + token + "'", "'" + hidden + "'", StringComparison.Ordinal);
            if (token.Length >= 8)
            {
                text = text.Replace(token, hidden, StringComparison.Ordinal);
            }
        }

        return text;
    }

    private async Task<int> LoginAsync(CliArgs args, CancellationToken ct)
    {
        var server = args.RequireOption("server");
        var token = args.RequireOption("token");
        var folder = Path.GetFullPath(args.RequireOption("folder"));
        if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"--server must be an http:// or https:// URL, got '{server}'.");
        }

        var caFile = args.Option("ca");
        var fingerprint = args.Option("fingerprint");
        if (caFile is not null && fingerprint is not null)
        {
            throw new UsageException("Give --ca FILE or --fingerprint SHA256:HEX, not both.");
        }

        if ((caFile ?? fingerprint) is not null && uri.Scheme != "https")
        {
            throw new UsageException($"--ca and --fingerprint check a TLS server: --server must be an https:// URL, got '{server}'.");
        }

        string? caPem = null;
        ServerTrust trust;
        try
        {
            if (caFile is not null)
            {
                trust = ServerTrust.ForCaFile(caFile, "--ca");
                caPem = await File.ReadAllTextAsync(caFile, ct).ConfigureAwait(false);
            }
            else
            {
                fingerprint = fingerprint is null ? null : CertificateFingerprint.Parse(fingerprint);
                trust = fingerprint is null ? ServerTrust.System : ServerTrust.ForFingerprint(fingerprint);
            }
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.InvalidArgument)
        {
            throw new UsageException(e.Message);
        }

        var stateDir = ClientSession.ResolveStateDirectory(args);
        // A database already there is opened before the server is asked, so a damaged one stops login before it says
        // "Logged in"; a new one is created only once the server took the token.
        using var existing = File.Exists(Path.Combine(stateDir, LocalState.DatabaseFileName)) ? LocalState.Open(stateDir) : null;
        Directory.CreateDirectory(folder);
        string accountNamespace;
        using (var channels = ClientChannels.Create(trust))
        {
            var account = await new GrpcMetadataRemote(channels, server, token).GetAccountAsync(ct).ConfigureAwait(false);
            accountNamespace = account.NamespaceId;
            _out.WriteLine($"Logged in as {SyncPaths.Display(account.User)} (namespace {account.NamespaceId}, {account.FileCount} files, {Format.Bytes(account.TotalBytes)}).");
        }

        using var created = existing is null ? LocalState.Open(stateDir) : null;
        var state = existing ?? created!;
        if (state.GetSetting(StateKeys.Folder) is { } oldFolder
            && (oldFolder != folder || state.GetSetting(StateKeys.Server) != server || AnotherAccount(state, accountNamespace)))
        {
            // Another account's rows and cursor name versions this account does not have: kept, its files here would
            // never be sent and the new account's never come down (or a reconcile take them as deleted there).
            state.ResetSyncState();
            FolderIdentity.Forget(state);
            _out.WriteLine("The previous link of this state directory was replaced; the next sync starts fresh.");
        }
        else if (!FolderIdentity.Matches(folder, state))
        {
            // The same path, but not the folder that was synced (replaced, a drive not mounted): logging in again
            // confirms it as a new folder, merged with the server on the next sync (nothing deleted).
            state.ResetSyncState();
            FolderIdentity.Forget(state);
            _out.WriteLine($"'{folder}' is not the folder that was synced (its {FolderIdentity.MarkerName} is missing or another's): the next sync merges it with the server as a new folder, deleting nothing.");
        }

        state.SetSetting(StateKeys.Server, server);
        state.SetSetting(StateKeys.AccountNamespace, accountNamespace);
        state.SetSetting(StateKeys.Token, token);
        state.SetSetting(StateKeys.TrustCa, caPem);
        state.SetSetting(StateKeys.TrustFingerprint, fingerprint);
        state.SetSetting(StateKeys.Folder, folder);
        state.SetSetting(StateKeys.Device, args.Option("device") ?? state.GetSetting(StateKeys.Device) ?? Environment.MachineName);
        if (args.IntOption("parallelism") is { } p)
        {
            state.SetSetting(StateKeys.Parallelism, p.ToString(CultureInfo.InvariantCulture));
        }

        if (args.ShareOption("mass-delete-share") is { } share)
        {
            state.SetSetting(StateKeys.MassDeleteShare, share.ToString(CultureInfo.InvariantCulture));
        }

        if (args.Option("reconcile-interval") is { } reconcile)
        {
            _ = args.DurationOption("reconcile-interval");
            state.SetSetting(StateKeys.ReconcileInterval, reconcile);
        }

        if (args.Option("stable-age") is { } stableAge)
        {
            _ = args.DurationOption("stable-age");
            state.SetSetting(StateKeys.StableAge, stableAge);
        }

        if (args.IntOption("mass-delete-min") is { } min)
        {
            state.SetSetting(StateKeys.MassDeleteMinimum, min.ToString(CultureInfo.InvariantCulture));
        }

        _out.WriteLine($"Linked '{folder}' (state in '{stateDir}'). Run: sync");
        return ExitCodes.Ok;
    }

    private async Task<int> SyncAsync(CliArgs args, CancellationToken ct)
    {
        var stateDir = ClientSession.ResolveStateDirectory(args);
        if (args.Flag("pause") || args.Flag("resume"))
        {
            if (args.Flag("pause") && args.Flag("resume"))
            {
                throw new UsageException("Give --pause or --resume, not both.");
            }

            if (!PassLock.IsDaemonRunning(stateDir))
            {
                throw new DropboxException(ErrorKind.NotFound, $"No sync daemon runs for the state directory '{stateDir}': nothing to {(args.Flag("pause") ? "pause" : "resume")}.");
            }

            var pause = args.Flag("pause");
            await File.WriteAllTextAsync(Path.Combine(stateDir, pause ? SyncDaemon.PauseRequestFile : SyncDaemon.ResumeRequestFile), DateTimeOffset.UtcNow.ToString("O"), ct).ConfigureAwait(false);
            _out.WriteLine(pause ? "Asked the running daemon to pause (the pass under way finishes; 'sync --resume' resumes)." : "Asked the running daemon to resume.");
            return ExitCodes.Ok;
        }

        if (args.Flag("now") && !args.Flag("once") && PassLock.IsDaemonRunning(stateDir))
        {
            await File.WriteAllTextAsync(Path.Combine(stateDir, SyncDaemon.NowRequestFile), DateTimeOffset.UtcNow.ToString("O"), ct).ConfigureAwait(false);
            _out.WriteLine("Asked the running daemon for an immediate pass.");
            return ExitCodes.Ok;
        }

        using var session = ClientSession.Open(stateDir);
        var options = session.Options(args);
        var json = args.Flag("json");
        var human = json ? _err : _out;
        var once = args.Flag("once") || args.Flag("now");
        await using var progress = new ConsoleProgress(human, _terminal && !json) { Width = _terminal && !json ? TerminalWidth() : null, Timestamps = !once };
        // A one-shot pass has no next pass to leave a file being written to: it waits out the window once.
        var limitUp = RateLimitedTransfer.ParseRate("limit-up", args.Option("limit-up"));
        var limitDown = RateLimitedTransfer.ParseRate("limit-down", args.Option("limit-down"));
        using var limited = limitUp is null && limitDown is null ? null : new RateLimitedTransfer(session.Transfer, limitUp, limitDown);
        var ctx = session.CreateContext(options with { WaitForStable = once }, progress.Progress, args.Flag("fixed-chunks"), limited);

        if (once)
        {
            var summary = new SyncSummary();
            try
            {
                summary = await new SyncEngine(ctx).RunPassAsync(ct).ConfigureAwait(false);
            }
            catch (DropboxException e)
            {
                summary.AddError(e.Message);
                if (json)
                {
                    await progress.DisposeAsync().ConfigureAwait(false);
                    _err.WriteLine(e.Details.ContainsKey(MassDeleteGuard.DetailKey) ? SyncPaths.Escape(e.Message, keepNewlines: true) : "error: " + SyncPaths.Display(e.Message, int.MaxValue));
                    _out.WriteLine(summary.ToJson());
                    return e.Details.ContainsKey(MassDeleteGuard.DetailKey) ? ExitCodes.MassDeleteStopped : ExitCodes.Errors;
                }

                throw;
            }

            await progress.DisposeAsync().ConfigureAwait(false);
            Report(progress, summary);
            if (json)
            {
                _out.WriteLine(summary.ToJson());
            }

            return summary.Errors == 0 && summary.Refused == 0 ? ExitCodes.Ok : ExitCodes.Errors;
        }

        var reconcileInterval = session.ReconcileInterval(args);
        progress.WriteLine($"Syncing '{session.Folder}' with {session.Server}. Ctrl-C stops (twice: at once). 'sync --now' forces a pass.");
        var passes = 0;
        var daemon = new SyncDaemon(ctx, summary =>
        {
            // The first pass always reports (the folder is in sync from here on); later ones only when they did or
            // found something, so an idle daemon prints nothing.
            if (json)
            {
                _out.WriteLine(summary.ToJson());
            }

            if (Interlocked.Increment(ref passes) > 1 && IsIdle(summary))
            {
                progress.DropHeldLine();
                progress.ForgetLogged();
                return;
            }

            Report(progress, summary);
        })
        {
            ReconcileInterval = reconcileInterval,
            PassStarting = progress.HoldLine,
        };
        await daemon.RunAsync(ct).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// '--version' alone, or beside '--state DIR' (which every verb takes, so scripts and aliases that always pass it
    /// still work): nothing else.
    /// </summary>
    /// <summary>The link was made to another account (a db from before the account was kept cannot tell: taken as the same).</summary>
    private static bool AnotherAccount(LocalState state, string accountNamespace) =>
        state.GetSetting(StateKeys.AccountNamespace) is { } stored && stored != accountNamespace;

    private static bool IsVersionAlone(string[] argv) => argv switch
    {
        ["--version"] => true,
        ["--version", "--state", _] or ["--state", _, "--version"] => true,
        ["--version", var s] when s.StartsWith("--state=", StringComparison.Ordinal) => true,
        [var s, "--version"] when s.StartsWith("--state=", StringComparison.Ordinal) => true,
        _ => false,
    };

    /// <summary>A pass that moved nothing and has nothing to say.</summary>
    private static bool IsIdle(SyncSummary s) =>
        s.FilesUploaded + s.FilesDownloaded + s.FilesDeleted + s.FilesMoved + s.Conflicts + s.Errors + s.Refused + s.Pending + s.Repairs == 0 &&
        s.Notes.Count == 0 && s.ErrorMessages.Count == 0 && s.Refusals.Count == 0;

    private static int? TerminalWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// The pass's notes, errors and refusals (each once: a note already shown as it happened is not repeated), then the
    /// one-line summary, through the progress display so a live status line is cleared first.
    /// </summary>
    private static void Report(ConsoleProgress progress, SyncSummary summary)
    {
        foreach (var note in summary.Notes.ToList())
        {
            if (!progress.WasLogged(note))
            {
                progress.WriteLine("note: " + SyncPaths.Display(note, int.MaxValue));
            }
        }

        foreach (var error in summary.ErrorMessages.ToList())
        {
            progress.WriteLine("error: " + SyncPaths.Display(error, int.MaxValue));
        }

        foreach (var refusal in summary.Refusals.ToList())
        {
            progress.WriteLine("refused: " + SyncPaths.Display(refusal, int.MaxValue));
        }

        progress.WriteLine("sync: " + summary);
        progress.ForgetLogged();
    }

    /// <summary>Entry point: wires Ctrl-C (first: graceful stop; second: exit at once) and SIGTERM.</summary>
    public static async Task<int> MainAsync(string[] argv)
    {
        using var cts = new CancellationTokenSource();
        ClientApp app;
        PosixSignalRegistration term;
        try
        {
            // Setting up the console throws where standard output is closed (started with >&-): natively compiled, the
            // closed descriptor stays closed and the first touch of the console fails (the runtime host under dotnet
            // happens to have reused it). One line on stderr and exit 1, as for any other error, not an abort.
            var presses = 0;
            Console.CancelKeyPress += (_, e) =>
            {
                if (Interlocked.Increment(ref presses) == 1)
                {
                    e.Cancel = true;
                    Console.Error.WriteLine("Stopping after the current step (Ctrl-C again to stop at once)...");
                    cts.Cancel();
                }
                else
                {
                    Environment.Exit(130);
                }
            };
            term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
            {
                ctx.Cancel = true;
                cts.Cancel();
            });
            app = new ClientApp(Console.Out, Console.Error, !Console.IsOutputRedirected);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                Console.Error.WriteLine($"error: standard output cannot be used: {e.Message}");
            }
            catch (Exception again) when (again is IOException or UnauthorizedAccessException)
            {
                // stderr closed too: the exit code is all that is left
            }

            return ExitCodes.Errors;
        }

        using (term)
        {
            return await app.RunAsync(argv, cts.Token).ConfigureAwait(false);
        }
    }
}
