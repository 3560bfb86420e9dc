namespace Dropbox.SyncClient.Sync;

/// <summary>
/// What the client refused of a server's answer: a message per refused entry, and the paths whose newest remote state
/// was refused (left alone on both sides this pass: their db row stays and nothing is planned for them).
/// </summary>
internal sealed class Refusals
{
    /// <summary>The state directory's relative path when it lies inside the folder: the server never writes there.</summary>
    public string? Reserved { get; init; }

    /// <summary>One line per refused entry: the path (escaped) and the rule.</summary>
    public List<string> Messages { get; } = [];

    /// <summary>Paths whose newest remote state was refused.</summary>
    public HashSet<string> Paths { get; } = new(StringComparer.Ordinal);
}
