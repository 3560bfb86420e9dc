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

    /// <summary>
    /// Of <see cref="Paths"/>, the live remote files at a folder that holds the state directory (see
    /// <see cref="Local.SyncPaths.StateDirectoryParentRule"/>), as last seen: never downloaded (the folder here cannot
    /// leave its path), and not reported as refused: the planner moves each aside on the server
    /// (<see cref="SyncPlanner.StateFolderAgainstFileReason"/>), so what lies beside the state directory can go up.
    /// </summary>
    public Dictionary<string, RemoteEntry> AboveStateDirectory { get; } = new(StringComparer.Ordinal);
}
