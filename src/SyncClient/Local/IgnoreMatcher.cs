using System.Text;
using System.Text.RegularExpressions;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Decides which paths sync: built-in rules for editors' temporary and partial files, then the
/// folder's root <c>.dropboxignore</c> in gitignore syntax (<c>*</c>, <c>**</c>, <c>?</c>, <c>[abc]</c>,
/// leading <c>/</c> anchors, trailing <c>/</c> for directories, <c>!</c> negation, <c>#</c> comments).
/// The last matching rule wins; an ignored directory hides everything below it, as in git.
/// </summary>
internal sealed class IgnoreMatcher
{
    /// <summary>Name of the ignore file at the root of the sync folder.</summary>
    public const string IgnoreFileName = ".dropboxignore";

    /// <summary>Prefix of the client's own download temp files.</summary>
    public const string TempPrefix = ".dropbox.tmp-";

    /// <summary>Temporary, lock and partial files of editors, browsers and this client: never synced.</summary>
    public static readonly IReadOnlyList<string> BuiltInPatterns =
    [
        TempPrefix + "*", "~$*", "*.swp", "*.swx", "*.swo", "*.tmp", ".~lock.*#", ".~lock.*", "*.part", "*.crdownload",
        "*.partial", "*~", ".#*", "4913", ".DS_Store", "Thumbs.db", "desktop.ini",
    ];

    private readonly List<IgnoreRule> _rules;

    private IgnoreMatcher(List<IgnoreRule> rules)
    {
        _rules = rules;
    }

    /// <summary>The compiled rules, built-ins first.</summary>
    public IReadOnlyList<IgnoreRule> Rules => _rules;

    /// <summary>A matcher of the built-ins plus the given gitignore-syntax lines.</summary>
    public static IgnoreMatcher Create(IEnumerable<string> lines)
    {
        var rules = new List<IgnoreRule>();
        foreach (var p in BuiltInPatterns)
        {
            rules.Add(Compile(p)!);
        }

        foreach (var line in lines)
        {
            var rule = Compile(line);
            if (rule is not null)
            {
                rules.Add(rule);
            }
        }

        return new IgnoreMatcher(rules);
    }

    /// <summary>Reads the root <c>.dropboxignore</c> of <paramref name="folder"/> if there is one.</summary>
    public static IgnoreMatcher Load(string folder)
    {
        var file = Path.Combine(folder, IgnoreFileName);
        return Create(File.Exists(file) ? File.ReadAllLines(file) : []);
    }

    /// <summary>True when <paramref name="relativePath"/> must not sync.</summary>
    public bool IsIgnored(string relativePath, bool isDirectory)
    {
        var ignored = false;
        foreach (var rule in _rules)
        {
            if (rule.Negated != ignored)
            {
                continue; // a rule that cannot change the outcome
            }

            if (rule.DirectoryOnly && !isDirectory)
            {
                continue;
            }

            if (rule.Regex.IsMatch(relativePath))
            {
                ignored = !rule.Negated;
            }
        }

        return ignored;
    }

    /// <summary>Compiles one gitignore line; null for blanks and comments.</summary>
    public static IgnoreRule? Compile(string line)
    {
        var text = line.TrimEnd('\r', '\n');
        // Trailing spaces are ignored unless escaped.
        while (text.EndsWith(' ') && !text.EndsWith("\\ ", StringComparison.Ordinal))
        {
            text = text[..^1];
        }

        if (text.Length == 0 || text[0] == '#')
        {
            return null;
        }

        var negated = false;
        if (text[0] == '!')
        {
            negated = true;
            text = text[1..];
        }
        else if (text.StartsWith("\\!", StringComparison.Ordinal) || text.StartsWith("\\#", StringComparison.Ordinal))
        {
            text = text[1..];
        }

        var directoryOnly = false;
        if (text.EndsWith('/'))
        {
            directoryOnly = true;
            text = text.TrimEnd('/');
        }

        if (text.Length == 0)
        {
            return null;
        }

        var anchored = text.Contains('/');
        if (text.StartsWith('/'))
        {
            text = text[1..];
        }

        var body = Translate(text);
        var pattern = anchored ? "^" + body + "$" : "^(?:.*/)?" + body + "$";
        var regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Singleline);
        return new IgnoreRule(line, regex, negated, directoryOnly);
    }

    private static string Translate(string glob)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (i < glob.Length)
        {
            var c = glob[i];
            if (c == '*')
            {
                var atSegmentStart = i == 0 || glob[i - 1] == '/';
                if (i + 1 < glob.Length && glob[i + 1] == '*' && atSegmentStart)
                {
                    var end = i + 2;
                    if (end == glob.Length)
                    {
                        sb.Append(".*"); // "dir/**": everything inside
                        i = end;
                        continue;
                    }

                    if (glob[end] == '/')
                    {
                        sb.Append("(?:.*/)?"); // "**/": zero or more directories
                        i = end + 1;
                        continue;
                    }
                }

                sb.Append("[^/]*");
                i++;
                while (i < glob.Length && glob[i] == '*')
                {
                    i++;
                }

                continue;
            }

            if (c == '?')
            {
                sb.Append("[^/]");
                i++;
                continue;
            }

            if (c == '[')
            {
                var close = glob.IndexOf(']', i + 2);
                if (close > 0)
                {
                    var cls = glob[(i + 1)..close];
                    sb.Append('[');
                    if (cls.StartsWith('!') || cls.StartsWith('^'))
                    {
                        sb.Append('^');
                        cls = cls[1..];
                    }

                    sb.Append(cls.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("[", "\\[", StringComparison.Ordinal));
                    sb.Append(']');
                    i = close + 1;
                    continue;
                }
            }

            if (c == '\\' && i + 1 < glob.Length)
            {
                sb.Append(Regex.Escape(glob[i + 1].ToString()));
                i += 2;
                continue;
            }

            sb.Append(Regex.Escape(c.ToString()));
            i++;
        }

        return sb.ToString();
    }
}
