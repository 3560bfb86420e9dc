using System.Text;
using System.Text.RegularExpressions;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Decides which names in one directory sync: built-in rules for editors' temporary and partial files, then
/// the <c>.dropboxignore</c> files of that directory and its ancestors, in gitignore syntax (<c>*</c>, <c>**</c>,
/// <c>?</c>, <c>[abc]</c>, a <c>/</c> at the start or in the middle anchors the pattern to the directory holding
/// the file, trailing <c>/</c> for directories, <c>!</c> negation, <c>#</c> comments). Each file's patterns are
/// relative to its own directory and apply to that directory's subtree only; files are consulted from the root
/// down and the last matching rule wins, so a deeper file overrides a shallower one. An ignored directory hides
/// everything below it, as in git: <see cref="IsIgnored"/> judges one path, <see cref="IgnoreTree"/> a whole path.
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
        "*.partial", "*~", ".#*", "4913", ".DS_Store", "Thumbs.db", "desktop.ini", "/" + Sync.FolderIdentity.MarkerName,
    ];

    private static readonly IgnoreRule[] BuiltInRules = BuiltInPatterns.Select(p => Compile(p)!).ToArray();

    private readonly Layer[] _layers;

    private IgnoreMatcher(Layer[] layers)
    {
        _layers = layers;
    }

    /// <summary>The built-in rules alone (no <c>.dropboxignore</c> read yet).</summary>
    public static IgnoreMatcher BuiltIn { get; } = new([new Layer(string.Empty, BuiltInRules)]);

    /// <summary>The compiled rules, built-ins first, then each file's from the root down.</summary>
    public IReadOnlyList<IgnoreRule> Rules => _layers.SelectMany(l => l.Rules).ToList();

    /// <summary>A matcher of the built-ins plus the given gitignore-syntax lines.</summary>
    public static IgnoreMatcher Create(IEnumerable<string> lines) => BuiltIn.WithFile(string.Empty, lines);

    /// <summary>An ignore file's lines from its bytes, as <see cref="File.ReadAllLines(string)"/> reads them (UTF-8, a byte-order mark honoured).</summary>
    public static List<string> Lines(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    /// <summary>
    /// This matcher plus the rules of the <c>.dropboxignore</c> in <paramref name="directory"/> (relative,
    /// '/'-separated, "" for the root), which must be this matcher's directory or below it.
    /// </summary>
    public IgnoreMatcher WithFile(string directory, IEnumerable<string> lines)
    {
        var rules = new List<IgnoreRule>();
        foreach (var line in lines)
        {
            if (Compile(line) is { } rule)
            {
                rules.Add(rule);
            }
        }

        return rules.Count == 0 ? this : new IgnoreMatcher([.. _layers, new Layer(directory, [.. rules])]);
    }

    /// <summary>
    /// True when the rules exclude <paramref name="relativePath"/> itself (relative to the sync folder). Its
    /// ancestors are not looked at: a scan never gets below an ignored directory; see <see cref="IgnoreTree"/>.
    /// </summary>
    public bool IsIgnored(string relativePath, bool isDirectory)
    {
        var ignored = false;
        foreach (var layer in _layers)
        {
            ReadOnlySpan<char> path = relativePath;
            if (layer.Directory.Length > 0)
            {
                if (relativePath.Length <= layer.Directory.Length + 1 || relativePath[layer.Directory.Length] != '/'
                    || !relativePath.StartsWith(layer.Directory, StringComparison.Ordinal))
                {
                    continue; // a file below elsewhere in the tree: not this path's business
                }

                path = path[(layer.Directory.Length + 1)..];
            }

            foreach (var rule in layer.Rules)
            {
                if (rule.Negated != ignored)
                {
                    continue; // a rule that cannot change the outcome
                }

                if (rule.DirectoryOnly && !isDirectory)
                {
                    continue;
                }

                if (rule.IsMatch(path))
                {
                    ignored = !rule.Negated;
                }
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

        // The scan names paths in composed Unicode (NFC): a line typed where names are decomposed (a Mac) is composed
        // too, or it would never match.
        if (!text.IsNormalized(System.Text.NormalizationForm.FormC))
        {
            text = text.Normalize(System.Text.NormalizationForm.FormC);
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
        return new IgnoreRule(line, regex, negated, directoryOnly) { Literal = IgnoreRule.IgnoreLiteral.From(text, anchored) };
    }

    /// <summary>The rules of one ignore file and the directory its patterns are relative to.</summary>
    private sealed record Layer(string Directory, IgnoreRule[] Rules);

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
