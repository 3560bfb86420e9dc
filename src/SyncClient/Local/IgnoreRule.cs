using System.Text.RegularExpressions;

namespace Dropbox.SyncClient.Local;

/// <summary>One line of a gitignore-syntax file, compiled.</summary>
/// <param name="Pattern">The line as written.</param>
/// <param name="Regex">Matches a relative '/'-separated path.</param>
/// <param name="Negated">A '!' rule: re-includes what an earlier rule excluded.</param>
/// <param name="DirectoryOnly">A rule ending in '/': matches directories only.</param>
internal sealed record IgnoreRule(string Pattern, Regex Regex, bool Negated, bool DirectoryOnly);
