using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;
using Google.Protobuf;
using Grpc.Core;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The plan and commit calls of an upload: a group's batched (PlanUploads, CommitFiles), a file alone's (or every file's,
/// on a server found without the batched calls) one by one (PlanUpload, CommitFile), answered alike.
/// </summary>
internal sealed class UploadCalls(IMetadataRemote metadata, ServerSupport server)
{
    /// <summary>The plans of <paramref name="request"/>'s files, in order.</summary>
    public async Task<IReadOnlyList<PlanUploadResponse>> PlanAsync(PlanUploadsRequest request, bool batched, AvoidedNodes avoidNodes, CancellationToken ct)
    {
        if (batched && !server.NoBatchedUploads)
        {
            try
            {
                var response = await metadata.PlanUploadsAsync(request, ct).ConfigureAwait(false);
                return response.Results.Count == request.Files.Count ? response.Results
                    : throw new DropboxException(ErrorKind.Internal, $"The server answered a plan of {request.Files.Count} files with {response.Results.Count} results.");
            }
            catch (DropboxException e) when (RemoteErrors.IsUnimplemented(e))
            {
                server.NoBatchedUploads = true; // an older server: the one-file calls from now on
            }
        }

        var answers = new List<PlanUploadResponse>(request.Files.Count);
        foreach (var file in request.Files)
        {
            file.AvoidNodes.Clear();
            file.AvoidNodes.AddRange(avoidNodes.Current());
            answers.Add(await metadata.PlanUploadAsync(file, ct).ConfigureAwait(false));
        }

        return answers;
    }

    /// <summary>The commit results of <paramref name="requests"/>, in order; a one-file call's conflict or missing-chunk refusal as the batched call answers it.</summary>
    public async Task<IReadOnlyList<CommitFileResult>> CommitAsync(List<CommitFileRequest> requests, bool batched, CancellationToken ct)
    {
        if (batched && !server.NoBatchedUploads)
        {
            try
            {
                var request = new CommitFilesRequest();
                request.Files.AddRange(requests);
                var response = await metadata.CommitFilesAsync(request, ct).ConfigureAwait(false);
                return response.Results.Count == requests.Count ? response.Results
                    : throw new DropboxException(ErrorKind.Internal, $"The server answered a commit of {requests.Count} files with {response.Results.Count} results.");
            }
            catch (DropboxException e) when (RemoteErrors.IsUnimplemented(e))
            {
                server.NoBatchedUploads = true;
            }
        }

        var results = new List<CommitFileResult>(requests.Count);
        foreach (var request in requests)
        {
            try
            {
                results.Add(new CommitFileResult { Committed = await metadata.CommitFileAsync(request, ct).ConfigureAwait(false) });
            }
            catch (DropboxException e) when (e.Kind is not (ErrorKind.Conflict or ErrorKind.NotFound) && results.Count > 0)
            {
                // The files before it are committed: their answers are kept (and recorded), this one and the rest are
                // not committed this time. Thrown, the group's earlier commits went unrecorded and came back as conflicts.
                var failed = results.Count;
                for (var rest = failed; rest < requests.Count; rest++)
                {
                    results.Add(new CommitFileResult { StatusCode = (int)StatusCode.Unavailable, ErrorMessage = rest == failed ? e.Message : "not sent: an earlier commit of its group failed" });
                }

                break;
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound)
            {
                // The one-file call's refusals as the batched call answers them, so they are handled in one place.
                var missing = e.Kind == ErrorKind.NotFound && e.Details.ContainsKey(RemoteErrors.MissingChunks);
                if (!missing && e.Kind == ErrorKind.NotFound)
                {
                    throw;
                }

                var result = new CommitFileResult { StatusCode = (int)(missing ? StatusCode.NotFound : StatusCode.FailedPrecondition), ErrorMessage = e.Message };
                if (missing)
                {
                    result.MissingChunkIds.Add(ByteString.Empty); // which ones is for the next plan to say
                }

                results.Add(result);
            }
        }

        return results;
    }
}
