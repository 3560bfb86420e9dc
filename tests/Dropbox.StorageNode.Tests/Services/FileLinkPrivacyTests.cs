using Dropbox.Hosting;
using Dropbox.StorageNode.Services;
using Microsoft.AspNetCore.Http;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>What a storage node lets out about a file link: its request log never holds the token, its refusals never name the file.</summary>
public sealed class FileLinkPrivacyTests
{
    [Theory]
    [InlineData("/l/CfDJ8AbCdEf-123_xyz/report.pdf", "/l/-/report.pdf")]
    [InlineData("/l/CfDJ8AbCdEf-123_xyz", "/l/-")]
    [InlineData("/l/CfDJ8AbCdEf-123_xyz/a/b c.txt", "/l/-/a/b c.txt")]
    [InlineData("/chunks/abc", "/chunks/abc")]
    [InlineData("/lx/keep", "/lx/keep")]
    public void A_link_token_is_replaced_in_the_logged_path_and_other_paths_are_logged_as_they_are(string path, string logged)
    {
        Assert.Equal(logged, HttpRequestMetrics.LoggedPath(path));
    }

    [Theory]
    [InlineData(StatusCodes.Status403Forbidden)]
    [InlineData(StatusCodes.Status404NotFound)]
    [InlineData(StatusCodes.Status410Gone)]
    [InlineData(StatusCodes.Status502BadGateway)]
    [InlineData(StatusCodes.Status503ServiceUnavailable)]
    public void Each_refusal_is_one_fixed_sentence(int status)
    {
        var text = FileLinkEndpoints.RefusalText(status);
        Assert.EndsWith(".", text, StringComparison.Ordinal);
        Assert.DoesNotContain("'", text, StringComparison.Ordinal);
    }
}
