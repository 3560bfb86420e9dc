namespace Dropbox.Shared.Errors;

/// <summary>Trailers (error details) the metadata node's cluster API sets so a storage node can tell lasting refusals from others.</summary>
public static class ClusterErrorDetails
{
    /// <summary>
    /// Set ("1") on a registration refused because the node's id was forgotten (<c>nodes forget</c>): the one refusal a
    /// storage node takes as final. Any other FAILED_PRECONDITION is retried.
    /// </summary>
    public const string NodeForgotten = "node-forgotten";
}
