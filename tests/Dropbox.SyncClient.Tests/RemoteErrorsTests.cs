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

        var e = RemoteErrors.Translate("Listing", new RpcException(new Status(StatusCode.InvalidArgument, detail)));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.DoesNotContain(e.Message, char.IsControl);
        Assert.Contains("no such path \\u001b]8;;http://evil\\u0007click", e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Length < RemoteErrors.MaxDetail + 100, $"{e.Message.Length} characters");
    }
}
