using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Services.Mapping;

internal static partial class SyncMapping
{
    /// <summary>A batch commit's outcomes as the CommitFiles answer, in the order of the files.</summary>
    public static CommitFilesResponse ToResponse(IReadOnlyList<CommitOutcome> outcomes)
    {
        var response = new CommitFilesResponse();
        foreach (var outcome in outcomes)
        {
            response.Results.Add(ToResult(outcome));
        }

        return response;
    }

    /// <summary>One file's outcome: the committed entry, or a status code with the refusal's message and data.</summary>
    public static CommitFileResult ToResult(CommitOutcome outcome)
    {
        switch (outcome)
        {
            case Committed committed:
                return new CommitFileResult { Committed = ToResponse(committed) };
            case CommitRefused refused:
                var result = new CommitFileResult
                {
                    StatusCode = (int)GrpcErrorMapping.ToStatusCode(refused.Kind),
                    ErrorMessage = refused.Message,
                    CurrentVersion = refused.CurrentVersion,
                };
                foreach (var id in refused.MissingChunks)
                {
                    result.MissingChunkIds.Add(id.ToByteString());
                }

                return result;
            default:
                throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Unknown commit outcome.");
        }
    }

    /// <summary>A committed file as the CommitFile answer: its entry and the change's sequence (its version).</summary>
    public static CommitFileResponse ToResponse(Committed committed) => new() { Entry = ToWire(committed.Entry), Sequence = committed.Entry.Version };
}
