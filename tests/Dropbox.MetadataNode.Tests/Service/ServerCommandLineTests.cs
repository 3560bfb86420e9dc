using Dropbox.MetadataNode.Cli;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>The metadata node's server command line refuses what it does not read, rather than run with a default.</summary>
public sealed class ServerCommandLineTests
{
    private static readonly string[] Base = ["--data", "/tmp/d", "--keys", "/tmp/k"];

    [Fact]
    public void A_misspelt_option_is_refused_naming_it_instead_of_running_with_the_default()
    {
        // "--replicas" is the appliance's word; the node's is "--replication": it used to start with one copy per chunk.
        var refused = Assert.Throws<DropboxException>(() => MetadataNodeCommandLine.ParseServerOptions([.. Base, "--replicas", "2"]));

        Assert.Equal(ErrorKind.InvalidArgument, refused.Kind);
        Assert.StartsWith("Unknown option --replicas: nothing was started.", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_unknown_options_are_all_named()
    {
        var refused = Assert.Throws<DropboxException>(() => MetadataNodeCommandLine.ParseServerOptions([.. Base, "--zeta", "1", "--alpha=2"]));

        Assert.StartsWith("Unknown options --alpha, --zeta:", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_documented_server_option_is_still_taken()
    {
        var options = MetadataNodeCommandLine.ParseServerOptions(
        [
            .. Base, "--urls", "http://127.0.0.1:0", "--http-url", "http://127.0.0.1:1", "--backup-dir", "/tmp/b", "--no-fsync",
            "--insecure-http", "--metrics-url", "http://127.0.0.1:2", "--replication", "2", "--node-dead-after", "30",
            "--backup-node-timeout", "0", "--backup-hold-timeout", "30", "--keep-versions", "5", "--keep-days", "7",
            "--gc-grace-minutes", "60", "--gc-interval-seconds", "10", "--purge-interval-seconds", "10", "--log-format", "json",
            "--log-level", "debug",
        ]);

        Assert.Equal(2, options.ReplicationFactor);
        Assert.False(options.SyncWrites);
        Assert.Equal(5, options.KeepVersions);
    }
}
