namespace Dropbox.IntegrationTests.Client;

/// <summary>What a <see cref="ClientProcess"/> needs of the deployment it syncs against.</summary>
internal interface IClientTarget
{
    /// <summary>The metadata node's URL, as clients log in with it.</summary>
    string MetadataUrl { get; }

    /// <summary>A user's token.</summary>
    string Token { get; }

    /// <summary>With TLS: the CA file clients trust (<c>login --ca</c>); else null.</summary>
    string? CaFile { get; }

    /// <summary>The nodes' output, for a failed assertion's message.</summary>
    string Logs { get; }
}
