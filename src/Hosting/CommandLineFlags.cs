using System.Globalization;
using Dropbox.Shared.Errors;

namespace Dropbox.Hosting;

/// <summary>The nodes' and the appliance's <c>--name value</c> / <c>--name=value</c> / <c>--switch</c> command lines.</summary>
public static class CommandLineFlags
{
    /// <summary>
    /// Reads <paramref name="args"/> into a map; names in <paramref name="switches"/> take no value ("true"). A word that
    /// is not an option, or an option missing its value, is InvalidArgument with <paramref name="usage"/> appended.
    /// </summary>
    public static Dictionary<string, string> Parse(string[] args, IReadOnlyCollection<string> switches, string usage)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(switches);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Unexpected argument '{a}'.\n{usage}");
            }

            var eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                map[a[..eq]] = a[(eq + 1)..];
            }
            else if (switches.Contains(a))
            {
                map[a] = "true";
            }
            else if (i + 1 < args.Length)
            {
                map[a] = args[++i];
            }
            else
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Option {a} needs a value.\n{usage}");
            }
        }

        return map;
    }

    /// <summary>The value as an integer above 0; InvalidArgument naming <paramref name="name"/> otherwise.</summary>
    public static int PositiveInt(string value, string name) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new DropboxException(ErrorKind.InvalidArgument, $"{name} must be a positive integer; got '{value}'.");
}
