using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// Every verb and the options it takes, as System.CommandLine commands: anything else on the command line is refused
/// (with the library's "did you mean" suggestion), <c>--version</c> and per-verb <c>--help</c> come with it. Option values
/// stay text here; <see cref="CliArgs"/> checks them with the messages users already know. Response files
/// (<c>@file</c>) are off: an argument such as a path starting with '@' is taken as written.
/// </summary>
internal static class CliGrammar
{
    /// <summary>Options that take no value.</summary>
    public static readonly IReadOnlySet<string> Flags = new HashSet<string>(StringComparer.Ordinal)
    {
        "once", "json", "now", "reconcile", "allow-mass-delete", "fixed-chunks", "deleted", "pause", "resume", "confirm-new-folder", "chunks",
    };

    private static readonly (string Name, string Description)[] Tuning =
    [
        ("parallelism", "chunks moved at once (default 4)"),
        ("mass-delete-share", "stop before deleting more than this share of the files, in (0, 1] (default 0.5)"),
        ("mass-delete-min", "... if that is at least this many files (default 10)"),
        ("reconcile-interval", "how often the daemon compares everything by fingerprint (default 24h; units ms, s, m, h, d)"),
        ("stable-age", "a changed file is uploaded once unmodified this long (default 2s; 0 turns it off)"),
    ];

    /// <summary>The verbs: name, description, options (name, description; flags per <see cref="Flags"/>), positional PATH arity.</summary>
    private static readonly (string Verb, string Description, (string Name, string Description)[] Options, int MinPaths, int MaxPaths)[] Verbs =
    [
        ("login", "link a folder to an account on a server", [
            ("server", "the appliance's URL (http:// or https://)"),
            ("token", "the account's token"),
            ("folder", "the folder to keep in sync (created if missing)"),
            ("device", "this device's name in the history (default: the machine name)"),
            ("ca", "trust https servers whose certificate this CA file issued"),
            ("fingerprint", "trust exactly the certificate with this SHA256:HEX fingerprint"),
            .. Tuning,
        ], 0, 0),
        ("sync", "two-way sync: the daemon, or one pass with --once", [
            ("once", "one two-way pass, then exit"),
            ("json", "print each pass's summary as one JSON line on stdout (human lines go to stderr)"),
            ("now", "ask the running daemon for an immediate pass (or run one pass if none runs)"),
            ("reconcile", "a full comparison by fingerprint that repairs divergence"),
            ("allow-mass-delete", "let this pass delete more than the mass-delete guard allows"),
            ("confirm-new-folder", "take a sync folder that is not the one synced (replaced, a drive not mounted) as a new one: merged with the server, nothing deleted"),
            ("fixed-chunks", "cut files into fixed-size chunks (for measurements)"),
            ("pause", "ask the running daemon to pause (no passes until --resume)"),
            ("resume", "ask the paused daemon to resume"),
            ("limit-up", "upload rate limit in bytes per second: 500k, 2M, 1G (powers of 1024; 0: none)"),
            ("limit-down", "download rate limit, as --limit-up"),
            .. Tuning,
        ], 0, 0),
        ("status", "the link, the daemon, the last pass and the account", [("json", "one JSON object")], 0, 0),
        ("ls", "files on the server (under PATH)", [("json", "one JSON object per line"), ("deleted", "deleted files instead (restore brings them back)")], 0, 1),
        ("history", "the versions of PATH", [("json", "one JSON object per line")], 1, 1),
        ("restore", "bring back a version of PATH (the newest kept one unless --version); a folder: every deleted file under it", [("version", "the version number"), ("json", "one JSON object")], 1, 1),
        ("conflicts", "conflicted copies in the folder", [("json", "one JSON object per line")], 0, 0),
        ("link", "an expiring link that downloads PATH whole (browser, curl)", [
            ("version", "the version number (default: the current one; the link keeps serving that version)"),
            ("expires", "how long the link works (default 1h, at most 7d; units s, m, h, d)"),
            ("chunks", "also list a presigned link per chunk (offset, length, encoding, url)"),
            ("json", "one JSON object"),
        ], 1, 1),
        ("help", "this text", [], 0, 0),
    ];

    /// <summary>The verbs' names.</summary>
    public static IEnumerable<string> VerbNames => Verbs.Select(v => v.Verb);

    /// <summary>The program's name in help and messages, whatever the executable is called.</summary>
    public const string ProgramName = "dropbox-client";

    /// <summary>The root command with every verb, <c>--help</c> and <c>--version</c>.</summary>
    /// <remarks>
    /// A plain <see cref="Command"/> named <see cref="ProgramName"/>, not a <see cref="RootCommand"/>: that one is named
    /// after the executable, so a verb's help said "Usage: Dropbox.SyncClient sync" (the dll) or "Dropbox sync" (the
    /// natively compiled client) while the rest of the help says dropbox-client. RootCommand's own options are added here.
    /// </remarks>
    public static Command Build()
    {
        var root = new Command(ProgramName, "dropbox-client: keeps a folder in sync with a self-hosted appliance.");
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        foreach (var (verb, description, options, minPaths, maxPaths) in Verbs)
        {
            var command = new Command(verb, description);
            // A plain loop, not options.Append(...): LINQ over an array of value tuples is a generic instantiation the
            // precompiled image lacks, so it was JIT-compiled at every start of the client.
            foreach (var (name, text) in options)
            {
                AddOption(command, name, text);
            }

            AddOption(command, "state", "the state directory (db, settings, trash)");

            if (maxPaths > 0)
            {
                command.Arguments.Add(new Argument<string>("PATH")
                {
                    Description = "a path relative to the sync folder",
                    Arity = new ArgumentArity(minPaths, maxPaths),
                });
            }

            root.Subcommands.Add(command);
        }

        return root;
    }

    private static void AddOption(Command command, string name, string text) =>
        command.Options.Add(Flags.Contains(name)
            ? new Option<bool>("--" + name) { Description = text }
            : new Option<string>("--" + name) { Description = text, HelpName = name.ToUpperInvariant() });

    /// <summary>Parses <paramref name="argv"/> against <paramref name="root"/> (response files off).</summary>
    public static ParseResult Parse(Command root, IReadOnlyList<string> argv) =>
        root.Parse(argv, new ParserConfiguration { ResponseFileTokenReplacer = null });
}
