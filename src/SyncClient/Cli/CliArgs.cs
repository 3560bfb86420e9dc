using System.Globalization;

namespace Dropbox.SyncClient.Cli;

/// <summary>A verb, its positional arguments, <c>--name value</c> options and <c>--flag</c>s.</summary>
internal sealed class CliArgs
{
    private static readonly HashSet<string> Flags = new(StringComparer.Ordinal)
    {
        "once", "json", "now", "reconcile", "allow-mass-delete", "help", "verbose", "fixed-chunks",
    };

    private readonly Dictionary<string, string> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public string Verb { get; private init; } = "help";

    public List<string> Positional { get; } = [];

    /// <summary>Parses; throws <see cref="UsageException"/> on malformed input.</summary>
    public static CliArgs Parse(IReadOnlyList<string> args)
    {
        var result = new CliArgs { Verb = args.Count > 0 ? args[0] : "help" };
        for (var i = 1; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                result.Positional.AddRange(args.Skip(i + 1));
                break;
            }

            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                var name = a[2..];
                string? inline = null;
                var eq = name.IndexOf('=');
                if (eq > 0)
                {
                    inline = name[(eq + 1)..];
                    name = name[..eq];
                }

                if (Flags.Contains(name) && inline is null)
                {
                    result._flags.Add(name);
                    continue;
                }

                if (inline is null)
                {
                    if (i + 1 >= args.Count)
                    {
                        throw new UsageException($"Option --{name} needs a value.");
                    }

                    inline = args[++i];
                }

                result._options[name] = inline;
                continue;
            }

            result.Positional.Add(a);
        }

        return result;
    }

    public bool Flag(string name) => _flags.Contains(name);

    public string? Option(string name) => _options.TryGetValue(name, out var v) ? v : null;

    public string RequireOption(string name) => Option(name) ?? throw new UsageException($"'{Verb}' needs --{name}.");

    public int? IntOption(string name) => Option(name) is { } v
        ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0 ? n : throw new UsageException($"--{name} must be a whole number, got '{v}'.")
        : null;

    public double? DoubleOption(string name) => Option(name) is { } v
        ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d >= 0 ? d : throw new UsageException($"--{name} must be a number, got '{v}'.")
        : null;

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

    /// <summary>Options given that the verb does not know.</summary>
    public IEnumerable<string> Unknown(params string[] known) =>
        _options.Keys.Concat(_flags).Where(k => !known.Contains(k, StringComparer.Ordinal));
}
