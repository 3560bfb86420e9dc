namespace Dropbox.SyncClient.Sync;

/// <summary>What changed remotely since the cursor, and the cursor to store once the pass succeeds.</summary>
/// <param name="Changes">Newest state per changed path.</param>
/// <param name="Cursor">Cursor after these changes.</param>
/// <param name="FullListing">True when this is a full listing (first run, reset or reconcile) rather than a delta.</param>
internal sealed record RemoteView(Dictionary<string, RemoteEntry> Changes, string Cursor, bool FullListing);
