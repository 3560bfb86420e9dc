using Dropbox.MetadataNode.Cli;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Replication;

public sealed class NodeDeadAfterTests
{
    private static string[] Args(string deadAfter) => ["--data", "/nonexistent/db", "--keys", "/nonexistent/keys", "--node-dead-after", deadAfter];

    [Theory]
    [InlineData("1")]
    [InlineData("2")]
    [InlineData("4")]
    public void A_node_dead_after_shorter_than_five_seconds_is_refused_naming_the_flag(string seconds)
    {
        var ex = Assert.Throws<DropboxException>(() => MetadataNodeCommandLine.ParseServerOptions(Args(seconds)));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains("--node-dead-after", ex.Message, StringComparison.Ordinal);
        Assert.Contains("at least 5", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Five_seconds_is_accepted_with_a_heartbeat_every_second()
    {
        var options = MetadataNodeCommandLine.ParseServerOptions(Args("5"));

        Assert.Equal(TimeSpan.FromSeconds(5), options.NodeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), options.HeartbeatInterval);
    }

    [Fact]
    public void The_options_refuse_a_short_dead_after_however_they_are_built()
    {
        Assert.Throws<DropboxException>(() => new MetadataNodeOptions { DataDirectory = "d", KeysDirectory = "k" }.WithNodeDeadAfter(TimeSpan.FromSeconds(2)));
    }
}
