using Grpc.Core;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>Sends raw frames as one call of a method and reports the status it ended with.</summary>
internal static class RawCall
{
    /// <summary>Most response messages read from a server stream before the client gives up reading (bounded work per case).</summary>
    private const int MaxResponses = 4096;

    public static async Task<Status> SendAsync(CallInvoker invoker, FuzzTarget target, IReadOnlyList<byte[]> frames, string? authorization, TimeSpan deadline)
    {
        var headers = new Metadata();
        if (authorization is not null)
        {
            headers.Add("authorization", authorization);
        }

        var options = new CallOptions(headers, DateTime.UtcNow + deadline);
        switch (target.Type)
        {
            case MethodType.Unary:
                try
                {
                    using var call = invoker.AsyncUnaryCall(target.RawMethod, null, options, frames.Count > 0 ? frames[0] : []);
                    await call.ResponseAsync;
                    return Status.DefaultSuccess;
                }
                catch (RpcException e)
                {
                    return e.Status;
                }

            case MethodType.ServerStreaming:
                try
                {
                    using var call = invoker.AsyncServerStreamingCall(target.RawMethod, null, options, frames.Count > 0 ? frames[0] : []);
                    var n = 0;
                    while (n++ < MaxResponses && await call.ResponseStream.MoveNext(CancellationToken.None))
                    {
                    }

                    return n > MaxResponses ? Status.DefaultCancelled : Status.DefaultSuccess;
                }
                catch (RpcException e)
                {
                    return e.Status;
                }

            case MethodType.ClientStreaming:
                {
                    using var call = invoker.AsyncClientStreamingCall(target.RawMethod, null, options);
                    try
                    {
                        foreach (var frame in frames)
                        {
                            await call.RequestStream.WriteAsync(frame);
                        }

                        await call.RequestStream.CompleteAsync();
                        await call.ResponseAsync;
                        return Status.DefaultSuccess;
                    }
                    catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
                    {
                        // The server ended the call while frames were still being written (the write then fails as
                        // cancelled): the call's own status, from its trailers, says why.
                        try
                        {
                            await call.ResponseAsync;
                            return Status.DefaultSuccess;
                        }
                        catch (RpcException ended)
                        {
                            return ended.Status;
                        }
                    }
                }

            default:
                throw new NotSupportedException($"{target.Name}: duplex calls are not fuzzed yet");
        }
    }
}
