namespace Dropbox.SyncClient.Sync;

/// <summary>What changed remotely since the cursor, and the cursor to store once the pass succeeds.</summary>
/// <param name="Changes">Newest state per changed path.</param>
/// <param name="Cursor">Cursor after these changes.</param>
/// <param name="FullListing">True when this is a full listing (first run, reset or reconcile) rather than a delta.</param>
internal sealed record RemoteView(Dictionary<string, RemoteEntry> Changes, string Cursor, bool FullListing)
{
    /// <summary>
    /// Entries the server sent that the client refused (a path breaking the path rules, an absurd size), each with the
    /// path and the rule. They are left out of <see cref="Changes"/>; the rest of the pass goes on without them.
    /// </summary>
    public List<string> Refused { get; init; } = [];
}
