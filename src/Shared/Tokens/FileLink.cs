namespace Dropbox.Shared.Tokens;

/// <summary>
/// What a signed file link grants: reading one version of one file of one namespace, as a whole, until a time. It
/// names no node: any storage node on the key ring serves it, asking the metadata node where the chunks are.
/// </summary>
public sealed record FileLink(string Namespace, string Path, ulong Version, DateTimeOffset Expires);
