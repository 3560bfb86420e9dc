namespace Dropbox.MetadataNode.Domain;

/// <summary>What a storage node says about itself when it registers.</summary>
internal sealed record NodeRegistration(string NodeId, string GrpcUrl, string HttpUrl, ulong CapacityBytes, ulong UsedBytes);
