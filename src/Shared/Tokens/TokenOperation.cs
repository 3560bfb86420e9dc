namespace Dropbox.Shared.Tokens;

/// <summary>What a token allows. A token for one operation is refused for any other.</summary>
public enum TokenOperation : byte
{
    /// <summary>Store the named chunk(s) on the named node.</summary>
    Put = 1,

    /// <summary>Read the named chunk(s) from the named node.</summary>
    Get = 2,

    /// <summary>Node-to-node and metadata-to-node system calls (has, delete, scrub, events).</summary>
    System = 3,

    /// <summary>
    /// A storage node's report about itself to the metadata node (the chunks its scrub quarantined): the token's
    /// namespace field names the issuing node, so the metadata node takes the report only for that node's own copies.
    /// </summary>
    NodeReport = 4,
}
