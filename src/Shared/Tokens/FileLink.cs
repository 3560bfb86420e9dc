namespace Dropbox.Shared.Tokens;

/// <summary>
/// What a signed file link grants: reading one version of one file of one namespace, as a whole, until a time. It
/// names no node: any storage node on the key ring serves it, asking the metadata node where the chunks are.
/// <paramref name="Epoch"/> is the owner's link epoch when it was signed: rotating the owner's token raises the epoch,
/// and a link of an older epoch no longer resolves.
/// </summary>
public sealed record FileLink(string Namespace, string Path, ulong Version, DateTimeOffset Expires, ulong Epoch = 0);
