using Dropbox.MetadataNode.Cli;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Backups;

/// <summary>The backup bounds on the metadata node's command line.</summary>
public sealed class BackupOptionsTests
{
    private static readonly string[] Base = ["--data", "/tmp/d", "--keys", "/tmp/k"];

    [Fact]
    public void By_default_a_nodes_snapshot_is_bounded_by_six_hours_and_its_wait_for_the_segments_by_two_minutes()
    {
        var options = MetadataNodeCommandLine.ParseServerOptions(Base);

        Assert.Equal(TimeSpan.FromHours(6), options.BackupNodeTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), options.BackupHoldTimeout);
    }

    [Fact]
    public void The_node_timeout_and_the_hold_wait_are_set_in_seconds_and_zero_means_no_node_timeout()
    {
        var set = MetadataNodeCommandLine.ParseServerOptions([.. Base, "--backup-node-timeout", "3600", "--backup-hold-timeout", "30"]);
        var unbounded = MetadataNodeCommandLine.ParseServerOptions([.. Base, "--backup-node-timeout", "0"]);

        Assert.Equal(TimeSpan.FromHours(1), set.BackupNodeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), set.BackupHoldTimeout);
        Assert.Equal(Timeout.InfiniteTimeSpan, unbounded.BackupNodeTimeout);
    }

    [Theory]
    [InlineData("--backup-node-timeout", "-1")]
    [InlineData("--backup-node-timeout", "soon")]
    [InlineData("--backup-hold-timeout", "0")]
    [InlineData("--backup-hold-timeout", "86401")]
    public void A_bad_bound_is_refused_naming_the_flag(string flag, string value)
    {
        var refused = Assert.Throws<DropboxException>(() => MetadataNodeCommandLine.ParseServerOptions([.. Base, flag, value]));

        Assert.Equal(ErrorKind.InvalidArgument, refused.Kind);
        Assert.Contains(flag, refused.Message, StringComparison.Ordinal);
    }
}
