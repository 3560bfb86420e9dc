namespace Dropbox.MetadataNode.Cli;

/// <summary>
/// The standalone appliance's first user and the file (mode 0600, in its data folder) that keeps that user's token,
/// which <c>user token owner --data DIR</c> shows. The appliance (its own program) writes the file; the metadata node
/// reads it, so the name lives here.
/// </summary>
public static class OwnerToken
{
    /// <summary>Name of the first user created in a new data folder.</summary>
    public const string User = "owner";

    /// <summary>File that keeps the first user's token.</summary>
    public const string FileName = "owner.token";
}
