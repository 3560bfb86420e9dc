namespace Dropbox.MetadataNode.Domain;

/// <summary>What a storage node says about itself when it registers (<paramref name="Full"/>: it refuses puts, as in a heartbeat).</summary>
internal sealed record NodeRegistration(string NodeId, string GrpcUrl, string HttpUrl, ulong CapacityBytes, ulong UsedBytes, bool Full = false);
