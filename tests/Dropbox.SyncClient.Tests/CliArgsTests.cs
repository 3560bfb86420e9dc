using Dropbox.Testing;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Cli;

namespace Dropbox.SyncClient.Tests;

public sealed class CliArgsTests
{
    [Fact]
    public void Verb_options_flags_and_positionals_are_parsed()
    {
        var args = CliArgs.Parse(["sync", "--state", "/tmp/s", "--once", "--json", "--parallelism=8"]);

        Assert.Equal("sync", args.Verb);
        Assert.Equal("/tmp/s", args.Option("state"));
        Assert.True(args.Flag("once"));
        Assert.True(args.Flag("json"));
        Assert.Equal(8, args.IntOption("parallelism"));
        Assert.Empty(args.Positional);
        Assert.Equal(["docs/a.txt"], CliArgs.Parse(["history", "docs/a.txt", "--json"]).Positional);
        Assert.Equal(["--odd-name"], CliArgs.Parse(["ls", "--", "--odd-name"]).Positional);
        Assert.Equal(["@notes"], CliArgs.Parse(["ls", "@notes"]).Positional); // a path, not a response file
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

    [Fact]
    public async Task A_mistyped_verb_is_named_once_with_a_suggestion_and_no_hidden_value()
    {
        var error = new StringWriter();

        var code = await new ClientApp(new StringWriter(), error, terminal: false).RunAsync(["snc"], CancellationToken.None);

        // The verb is shown as typed in the first line; the library's "'snc' was not matched" line used to follow with
        // the verb hidden as if it were a secret value.
        Assert.Equal(ExitCodes.Usage, code);
        var text = error.ToString();
        Assert.Contains("Unknown verb 'snc'.", text, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^Did you mean one of the following\?\r?\n  sync\r?$", text);
        Assert.DoesNotContain("(value hidden)", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "sync", "--once", "--bogus", "x" }, "--bogus")]
    [InlineData(new[] { "sync", "--onc" }, "--once")]
    [InlineData(new[] { "status", "--verbose" }, "--verbose")]
    [InlineData(new[] { "ls", "a", "b" }, "'(value hidden)'")]
    [InlineData(new[] { "history" }, "history")]
    [InlineData(new[] { "snyc" }, "sync")]
    [InlineData(new[] { "--bogus" }, "--bogus")]
    [InlineData(new[] { "help", "--bogus" }, "'--bogus'.\nRun 'dropbox-client help' for the verbs")]
    public async Task Unknown_verbs_options_and_extra_arguments_are_refused_with_the_usage_code_before_anything_runs(string[] argv, string mentioned)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        // No state directory exists: a verb that ran would fail with "No linked account" (exit 1), not 2.
        var code = await new ClientApp(output, error, terminal: false).RunAsync([.. argv, "--state", Path.Combine(Path.GetTempPath(), "no-such-state-" + Guid.NewGuid())], CancellationToken.None);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(mentioned, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("No linked account", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(string.Empty, output.ToString());
    }

    [Theory]
    [InlineData("sync", "2")]
    [InlineData("sync", "1.5")]
    [InlineData("sync", "0")]
    [InlineData("sync", "NaN")]
    [InlineData("sync", "Infinity")]
    [InlineData("login", "2")]
    public async Task A_mass_delete_share_outside_0_to_1_is_refused_naming_the_option_and_the_range_before_anything_runs(string verb, string share)
    {
        using var dir = new TempFolder();
        var state = dir.Sub("state");
        var folder = dir.Sub("folder");
        var error = new StringWriter();
        string[] argv = verb == "login"
            ? ["login", "--server", "http://127.0.0.1:1", "--token", "t", "--folder", folder, "--state", state, "--mass-delete-share", share]
            : ["sync", "--once", "--mass-delete-share", share, "--state", state];

        // No state directory and no server: a verb that ran would fail with "No linked account" or an unreachable
        // server (exit 1), not 2.
        var code = await new ClientApp(new StringWriter(), error, terminal: false).RunAsync(argv, CancellationToken.None);

        Assert.True(code == ExitCodes.Usage, $"exit {code}: {error}");
        Assert.Contains($"--mass-delete-share must be a share in (0, 1], such as 0.5, got '{share}'.", error.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(state));
        Assert.False(Directory.Exists(folder));
    }

    [Theory]
    [InlineData("1", 1.0)]
    [InlineData("0.5", 0.5)]
    [InlineData("1e-3", 0.001)]
    public void A_mass_delete_share_in_0_to_1_is_taken(string text, double share)
    {
        Assert.Equal(share, CliArgs.Parse(["sync", "--mass-delete-share", text]).ShareOption("mass-delete-share"));
    }

    [Fact]
    public async Task A_verbs_help_names_the_program_dropbox_client_in_its_usage_line()
    {
        // The dll as a process: System.CommandLine names the root command after the executable (here the dll,
        // "Dropbox.SyncClient"; natively compiled, "Dropbox"), while the rest of the help says dropbox-client.
        using var client = ChildProcess.Start(Binaries.SyncClient, ["sync", "--help"]);

        var code = await client.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Matches(@"(?m)^Usage:\r?\n  dropbox-client sync \[options\]\r?$", client.Stdout);
        Assert.DoesNotContain("Dropbox.SyncClient", client.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--tokn", "s3cr3t-T0KEN-value", false)]
    [InlineData("--tokn", "short", false)]
    [InlineData("--tokn=s3cr3t-T0KEN-value", "s3cr3t-T0KEN-value", true)]
    [InlineData("--toke", "s3cr3t-T0KEN-value", false)]
    public async Task A_mistyped_option_never_echoes_the_value_that_followed_it(string option, string secret, bool joined)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string[] argv = joined
            ? ["login", "--server", "http://127.0.0.1:1", option, "--folder", "f"]
            : ["login", "--server", "http://127.0.0.1:1", option, secret, "--folder", "f"];

        var code = await new ClientApp(output, error, terminal: false).RunAsync(argv, CancellationToken.None);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.DoesNotContain(secret, error.ToString() + output.ToString(), StringComparison.Ordinal);
        Assert.Contains(joined ? "--tokn=" : option, error.ToString(), StringComparison.Ordinal); // what was wrong is still said
    }

    [Theory]
    [InlineData("16k")]
    [InlineData("63k")]
    [InlineData("1000")]
    public void A_rate_limit_below_64k_is_refused_saying_why(string rate)
    {
        var e = Assert.Throws<UsageException>(() => RateLimitedTransfer.ParseRate("limit-up", rate));
        Assert.Contains("at least 64k", e.Message, StringComparison.Ordinal);
        Assert.Contains("15 minutes", e.Message, StringComparison.Ordinal);
        Assert.Equal(64L << 10, RateLimitedTransfer.ParseRate("limit-up", "64k"));
        Assert.Null(RateLimitedTransfer.ParseRate("limit-up", "0"));
    }

    [Fact]
    public async Task A_mistyped_option_gets_a_did_you_mean_suggestion()
    {
        var error = new StringWriter();

        var code = await new ClientApp(new StringWriter(), error, terminal: false).RunAsync(["sync", "--onec"], CancellationToken.None);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Matches(@"(?s)Did you mean.*--once", error.ToString());
    }

    [Fact]
    public async Task Version_prints_the_version_and_exits_zero()
    {
        var output = new StringWriter();

        var code = await new ClientApp(output, new StringWriter(), terminal: false).RunAsync(["--version"], CancellationToken.None);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Matches(@"^\d+\.\d+\.\d+", output.ToString());
    }

    [Theory]
    [InlineData("--version", "--bogus")]
    [InlineData("--bogus", "--version")]
    [InlineData("--version", "extra")]
    public async Task Version_beside_anything_else_is_refused_not_printed(string first, string second)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await new ClientApp(output, error, terminal: false).RunAsync([first, second], CancellationToken.None);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Equal(string.Empty, output.ToString());
        Assert.Contains("--version takes nothing else", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--version", "--state", "/tmp/s")]
    [InlineData("--state", "/tmp/s", "--version")]
    [InlineData("--version", "--state=/tmp/s")]
    public async Task Version_beside_the_state_option_every_verb_takes_prints_the_version(params string[] argv)
    {
        var output = new StringWriter();

        var code = await new ClientApp(output, new StringWriter(), terminal: false).RunAsync(argv, CancellationToken.None);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Matches(@"^\d+\.\d+\.\d+", output.ToString());
    }

    [Fact]
    public async Task A_verbs_own_version_option_is_not_taken_for_the_programs()
    {
        var error = new StringWriter();

        var code = await new ClientApp(new StringWriter(), error, terminal: false).RunAsync(["restore", "a.txt", "--version", "x", "--state", "/nonexistent/state"], CancellationToken.None);

        Assert.NotEqual(ExitCodes.Ok, code);
        Assert.DoesNotContain("--version takes nothing else", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("0")]
    [InlineData("NaN")]
    public async Task A_mass_delete_share_stored_by_an_older_login_outside_the_range_is_refused_saying_how_to_mend_it(string stored)
    {
        using var dir = new TempFolder();
        var state = Path.Combine(dir.Path, "state");
        using (var db = LocalState.Open(state))
        {
            db.SetSetting(StateKeys.Server, "https://127.0.0.1:1");
            db.SetSetting(StateKeys.Token, "t");
            db.SetSetting(StateKeys.Folder, Path.Combine(dir.Path, "folder"));
            db.SetSetting(StateKeys.MassDeleteShare, stored);
        }

        var error = new StringWriter();
        var code = await new ClientApp(new StringWriter(), error, terminal: false).RunAsync(["sync", "--once", "--state", state], CancellationToken.None);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains($"mass-delete share stored in '{state}' ('{stored}'", error.ToString(), StringComparison.Ordinal);

        // Given on the command line, the stored one is not used: the run goes on (and fails later, on the folder).
        var error2 = new StringWriter();
        await new ClientApp(new StringWriter(), error2, terminal: false).RunAsync(["sync", "--once", "--mass-delete-share", "0.5", "--state", state], CancellationToken.None);
        Assert.DoesNotContain("mass-delete share stored", error2.ToString(), StringComparison.Ordinal);
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
