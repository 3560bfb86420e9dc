using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// A verb, its positional arguments, <c>--name value</c> options and <c>--flag</c>s, as <see cref="CliGrammar"/> parsed
/// them (so only what the verb declares).
/// </summary>
internal sealed class CliArgs
{
    private readonly Dictionary<string, string> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public string Verb { get; private init; } = "help";

    public List<string> Positional { get; } = [];

    /// <summary>Parses; throws <see cref="UsageException"/> (the parser's messages) on anything the verb does not take.</summary>
    public static CliArgs Parse(IReadOnlyList<string> args)
    {
        var result = CliGrammar.Parse(CliGrammar.Build(), args);
        if (result.Errors.Count > 0)
        {
            throw new UsageException(string.Join(" ", result.Errors.Select(e => e.Message)));
        }

        return From(result);
    }

    /// <summary>The verb and the options given on the command line (not the implicit defaults) of a parse without errors.</summary>
    public static CliArgs From(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var command = result.CommandResult;
        var args = new CliArgs { Verb = command.Parent is null ? "help" : command.Command.Name };
        foreach (var child in command.Children)
        {
            switch (child)
            {
                case OptionResult { Implicit: false } o when o.Option is Option<bool> flag:
                    if (result.GetValue(flag))
                    {
                        args._flags.Add(o.Option.Name.TrimStart('-'));
                    }

                    break;
                case OptionResult { Implicit: false } o when o.Option is Option<string> option && result.GetValue(option) is { } value:
                    args._options[o.Option.Name.TrimStart('-')] = value;
                    break;
                case ArgumentResult a:
                    args.Positional.AddRange(a.Tokens.Select(t => t.Value));
                    break;
            }
        }

        return args;
    }

    public bool Flag(string name) => _flags.Contains(name);

    public string? Option(string name) => _options.TryGetValue(name, out var v) ? v : null;

    public string RequireOption(string name) => Option(name) ?? throw new UsageException($"'{Verb}' needs --{name}.");

    public int? IntOption(string name) => Option(name) is { } v
        ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0 ? n : throw new UsageException($"--{name} must be a whole number, got '{v}'.")
        : null;

    /// <summary>A share of a whole: a number in (0, 1] ("0.5", "1"); 0, more than 1, NaN and infinity are refused.</summary>
    public double? ShareOption(string name) => Option(name) is { } v
        ? TryParseShare(v, out var d) ? d : throw new UsageException($"--{name} must be a share in (0, 1], such as 0.5, got '{v}'.")
        : null;

    /// <summary>Reads a share of a whole, a number in (0, 1] (see <see cref="ShareOption"/>); false for anything else.</summary>
    public static bool TryParseShare(string text, out double share) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out share) && share > 0 && share <= 1;

    /// <summary>
    /// Checks the values of the sync tuning options given (throws <see cref="UsageException"/>), so a wrong one is refused
    /// before a verb runs: before login asks the server or stores any setting, and before sync opens the state.
    /// </summary>
    public void CheckTuning()
    {
        _ = IntOption("parallelism");
        _ = ShareOption("mass-delete-share");
        _ = IntOption("mass-delete-min");
        _ = DurationOption("reconcile-interval");
        _ = DurationOption("stable-age");
    }

    /// <summary>
    /// A duration: a number with an optional unit, <c>ms</c>, <c>s</c> (the default), <c>m</c>, <c>h</c> or
    /// <c>d</c> ("90", "1.5s", "15m", "24h", "1d"). Never negative.
    /// </summary>
    public TimeSpan? DurationOption(string name)
    {
        if (Option(name) is not { } v)
        {
            return null;
        }

        return TryParseDuration(v, out var t) ? t : throw new UsageException($"--{name} must be a duration such as 90s, 15m, 24h or 1d, got '{v}'.");
    }

    /// <summary>Parses what <see cref="DurationOption"/> accepts.</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        var t = text.Trim().ToLowerInvariant();
        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)];
        var scale = 1.0;
        foreach (var (suffix, seconds) in units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal))
            {
                scale = seconds;
                t = t[..^suffix.Length];
                break;
            }
        }

        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || double.IsNaN(n) || n * scale > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return false;
        }

        duration = TimeSpan.FromSeconds(n * scale);
        return true;
    }
}
