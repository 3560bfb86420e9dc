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

    [Theory]
    [InlineData("90", 90)]
    [InlineData("1.5s", 1.5)]
    [InlineData("500ms", 0.5)]
    [InlineData("15m", 900)]
    [InlineData("24h", 86400)]
    [InlineData("1d", 86400)]
    [InlineData("0", 0)]
    public void Durations_take_a_unit_and_default_to_seconds(string text, double seconds)
    {
        var args = CliArgs.Parse(["sync", "--reconcile-interval", text]);

        Assert.Equal(TimeSpan.FromSeconds(seconds), args.DurationOption("reconcile-interval"));
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-5s")]
    [InlineData("5 parsecs")]
    public void A_duration_that_is_not_one_is_a_usage_error_naming_the_option(string text)
    {
        var args = CliArgs.Parse(["sync", "--reconcile-interval", text]);

        var error = Assert.Throws<UsageException>(() => args.DurationOption("reconcile-interval"));
        Assert.Contains("--reconcile-interval", error.Message, StringComparison.Ordinal);
    }
}
