using Dropbox.SyncClient.Cli;

namespace Dropbox.SyncClient.Tests;

public sealed class CliArgsTests
{
    [Fact]
    public void Verb_options_flags_and_positionals_are_parsed()
    {
        var args = CliArgs.Parse(["sync", "--state", "/tmp/s", "--once", "--json", "--parallelism=8", "extra"]);

        Assert.Equal("sync", args.Verb);
        Assert.Equal("/tmp/s", args.Option("state"));
        Assert.True(args.Flag("once"));
        Assert.True(args.Flag("json"));
        Assert.Equal(8, args.IntOption("parallelism"));
        Assert.Equal(["extra"], args.Positional);
    }

    [Fact]
    public void An_option_without_its_value_is_a_usage_error()
    {
        Assert.Throws<UsageException>(() => CliArgs.Parse(["login", "--server"]));
    }

    [Fact]
    public async Task An_unknown_verb_exits_with_the_usage_code()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await new ClientApp(output, error, terminal: false).RunAsync(["frobnicate"], CancellationToken.None);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("Unknown verb", error.ToString(), StringComparison.Ordinal);
    }
}
