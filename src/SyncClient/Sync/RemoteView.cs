namespace Dropbox.SyncClient.Sync;

/// <summary>What changed remotely since the cursor, and the cursor to store once the pass succeeds.</summary>
/// <param name="Changes">Newest state per changed path.</param>
/// <param name="Cursor">Cursor after these changes.</param>
/// <param name="FullListing">True when this is a full listing (first run, reset or reconcile) rather than a delta.</param>
internal sealed record RemoteView(Dictionary<string, RemoteEntry> Changes, string Cursor, bool FullListing)
{
    /// <summary>True when a change feed stopped at the page bound with more to come: the next pass reads on.</summary>
    public bool MoreChanges { get; init; }

    /// <summary>What the client refused of the server's answer.</summary>
    public Refusals Refusals { get; init; } = new();

    /// <summary>
    /// Entries the server sent that the client refused (a path breaking the path rules, an absurd size, a path into
    /// the state directory), each with the path and the rule. They are left out of <see cref="Changes"/>; the rest
    /// of the pass goes on without them.
    /// </summary>
    public List<string> Refused => Refusals.Messages;

    /// <summary>
    /// Paths whose newest remote state was refused. Not in <see cref="Changes"/>, yet not unknown to the server:
    /// withheld (the db row stays, nothing is planned on either side), never read as "the server does not know it".
    /// </summary>
    public bool IsRefused(string path) => Refusals.Paths.Contains(path);
}
