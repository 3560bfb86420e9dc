using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// Upload plans asked for in the compact form (<see cref="PlanUploadsRequest.Compact"/>): the answer lists each node and
/// put token once and the puts name them by index, where the original form repeats a token (shared by up to 16 chunks)
/// in every put. An older server answers in the original form; both come out the same.
/// </summary>
internal static class UploadPlans
{
    /// <summary>
    /// Fills in each put's node and token from <paramref name="response"/>'s tables (the same objects, not copies), so
    /// the rest of the client sees the original form; an answer in the original form is left as it is. A put that names
    /// an entry the answer does not list, or is in both forms at once, fails the whole answer and changes nothing.
    /// </summary>
    public static PlanUploadsResponse Expand(PlanUploadsResponse response)
    {
        if (response.Nodes.Count == 0 && response.Tokens.Count == 0)
        {
            return response;
        }

        for (var f = 0; f < response.Results.Count; f++)
        {
            foreach (var put in response.Results[f].Missing)
            {
                if (put.Node is not null || put.Token.Length > 0)
                {
                    throw new DropboxException(ErrorKind.Internal, $"The server's upload plan is inconsistent: file #{f} has a put with its own node or token in an answer that lists them in tables.");
                }

                if (put.NodeIndex >= response.Nodes.Count || put.TokenIndex >= response.Tokens.Count)
                {
                    throw new DropboxException(ErrorKind.Internal, $"The server's upload plan refers to node #{put.NodeIndex} and token #{put.TokenIndex}, but lists {response.Nodes.Count} node(s) and {response.Tokens.Count} token(s).");
                }
            }
        }

        // Checked whole before anything is filled in: a refused answer is left as it came.
        foreach (var result in response.Results)
        {
            foreach (var put in result.Missing)
            {
                put.Node = response.Nodes[(int)put.NodeIndex];
                put.Token = response.Tokens[(int)put.TokenIndex];
            }
        }

        return response;
    }
}
