namespace Dropbox.MetadataNode.Domain;

/// <summary>A signed file link: its URL, when it expires, and the version it serves (an entry without its chunk list).</summary>
internal sealed record IssuedLink(string Url, DateTimeOffset Expires, PathEntry Entry);
