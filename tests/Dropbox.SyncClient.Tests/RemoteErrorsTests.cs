using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Remote;
using Grpc.Core;

namespace Dropbox.SyncClient.Tests;

public sealed class RemoteErrorsTests
{
    [Fact]
    public void A_server_error_detail_reaches_the_message_with_its_control_characters_escaped_and_its_length_bounded()
    {
        var detail = "no such path \u001b]8;;http://evil\u0007click\u001b]8;;\u0007\r\n" + new string('x', 10_000);

        var e = RemoteErrors.Translate("Listing", new RpcException(new Status(StatusCode.InvalidArgument, detail)), CancellationToken.None);

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.DoesNotContain(e.Message, char.IsControl);
        Assert.Contains("no such path \\u001b]8;;http://evil\\u0007click", e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Length < RemoteErrors.MaxDetail + 100, $"{e.Message.Length} characters");
    }

    [Fact]
    public async Task A_call_the_server_cancelled_is_a_retryable_error_not_a_cancellation_of_ours()
    {
        // An HTTP/2 CANCEL from a restarting server or a proxy: the caller asked for nothing.
        var e = await Assert.ThrowsAsync<DropboxException>(() => RemoteErrors.CallAsync<int>("Listing changes", CancellationToken.None,
            () => throw new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the server."))));

        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("the server cancelled the call", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_call_cancelled_by_its_callers_token_stays_a_cancellation()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RemoteErrors.CallAsync<int>("Listing changes", cts.Token,
            () => throw new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."))));

        Assert.Equal(cts.Token, e.CancellationToken);
    }
}
