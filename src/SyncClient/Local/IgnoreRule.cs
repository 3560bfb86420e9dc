using System.Text.RegularExpressions;

namespace Dropbox.SyncClient.Local;

/// <summary>One line of a gitignore-syntax file, compiled.</summary>
/// <param name="Pattern">The line as written.</param>
/// <param name="Regex">Matches a relative '/'-separated path.</param>
/// <param name="Negated">A '!' rule: re-includes what an earlier rule excluded.</param>
/// <param name="DirectoryOnly">A rule ending in '/': matches directories only.</param>
internal sealed record IgnoreRule(string Pattern, Regex Regex, bool Negated, bool DirectoryOnly)
{
    /// <summary>
    /// The rule as plain text when it is one (<c>name</c>, <c>*.ext</c>, <c>prefix*</c>, <c>a*b</c>, <c>/dir/name</c>):
    /// every path of a scan meets every built-in rule, and the regex interpreter cost more per file than reading it.
    /// Null: only <see cref="Regex"/> decides.
    /// </summary>
    public IgnoreLiteral? Literal { get; init; }

    /// <summary>True when the rule matches <paramref name="path"/> (relative to the rule's directory); as <see cref="Regex"/> does.</summary>
    public bool IsMatch(ReadOnlySpan<char> path)
    {
        // '$' also matches before a final newline: such a name is left to the regex.
        if (Literal is not { } literal || (path.Length > 0 && path[^1] == '\n'))
        {
            return Regex.IsMatch(path);
        }

        var name = literal.WholePath ? path : path[(path.LastIndexOf('/') + 1)..];
        if (literal.Suffix is null)
        {
            return name.SequenceEqual(literal.Prefix);
        }

        return name.Length >= literal.Prefix.Length + literal.Suffix.Length
            && name.StartsWith(literal.Prefix, StringComparison.Ordinal)
            && name.EndsWith(literal.Suffix, StringComparison.Ordinal);
    }

    /// <summary>
    /// A rule without wildcards other than one <c>*</c>: the name (the last segment, or with <see cref="WholePath"/>
    /// the whole path) is <see cref="Prefix"/> exactly when <see cref="Suffix"/> is null, else starts with
    /// <see cref="Prefix"/> and ends with <see cref="Suffix"/> without the two overlapping.
    /// </summary>
    internal sealed record IgnoreLiteral(bool WholePath, string Prefix, string? Suffix)
    {
        /// <summary>The literal form of a glob (leading '/' and trailing '/' removed), or null when it has none.</summary>
        public static IgnoreLiteral? From(string glob, bool anchored)
        {
            if (glob.AsSpan().IndexOfAny('?', '[', '\\') >= 0)
            {
                return null;
            }

            var star = glob.IndexOf('*');
            if (star < 0)
            {
                return new IgnoreLiteral(anchored, glob, null);
            }

            // One '*' in a single segment: it matches any run of characters other than '/'.
            if (anchored || glob.IndexOf('*', star + 1) >= 0)
            {
                return null;
            }

            return new IgnoreLiteral(false, glob[..star], glob[(star + 1)..]);
        }
    }
}
