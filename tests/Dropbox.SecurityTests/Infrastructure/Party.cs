namespace Dropbox.SecurityTests.Infrastructure;

/// <summary>A user of the appliance as an attacker sees it: a name, a bearer token and (for assertions) a namespace id.</summary>
internal sealed record Party(string Name, string Token, string NamespaceId);
