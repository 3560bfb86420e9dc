using Dropbox.SyncClient.Cli;

namespace Dropbox.SyncClient.Tests;

public sealed class ConsoleProgressTests
{
    [Fact]
    public async Task On_a_terminal_one_line_is_redrawn_with_files_bytes_rate_and_eta()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        await using var progress = new ConsoleProgress(output, isTerminal: true, clock, autoRender: false);
        var p = progress.Progress;
        p.Phase = "transferring";
        p.AddWork(10, 10 << 20);

        progress.Render();
        for (var i = 0; i < 2; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            p.AddBytes(1 << 20);
            p.FileDone();
            progress.Render();
        }

        var text = output.ToString();
        Assert.DoesNotContain('\n', text);
        var frames = text.Split('\r', StringSplitOptions.RemoveEmptyEntries).Where(f => f.Trim().Length > 0).ToList();
        Assert.Equal(3, frames.Count);
        Assert.Equal("transferring: 2/10 files, 2.0 MiB/10.0 MiB, 1.0 MiB/s ETA 8s", frames[^1]);
        Assert.Contains("0/10 files", frames[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_absurd_total_from_a_server_gives_no_eta_instead_of_crashing_the_status_line()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        await using var progress = new ConsoleProgress(output, isTerminal: true, clock, autoRender: false);
        var p = progress.Progress;
        p.Phase = "transferring";
        p.AddWork(1, long.MaxValue);

        progress.Render();
        clock.Advance(TimeSpan.FromMilliseconds(1));
        p.AddBytes(2);
        progress.Render();

        var frames = output.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries).Where(f => f.Trim().Length > 0).ToList();
        Assert.StartsWith("transferring: 0/1 files", frames[^1], StringComparison.Ordinal);
        Assert.DoesNotContain("ETA", frames[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_a_terminal_an_event_line_erases_the_status_line_and_the_status_comes_back_below()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        await using (var progress = new ConsoleProgress(output, isTerminal: true, clock, autoRender: false))
        {
            progress.Progress.AddWork(1, 100);
            progress.Render();
            progress.Progress.Log("uploaded 'a.txt' (100 B)");
            progress.Render();
        }

        var text = output.ToString();
        var eventLine = text.IndexOf("uploaded 'a.txt'", StringComparison.Ordinal);
        Assert.True(eventLine > 0);
        Assert.Equal('\r', text[eventLine - 1]); // the status line was erased first
        Assert.EndsWith("\r", text, StringComparison.Ordinal); // disposing erases the last status line
        Assert.Contains("0/1 files", text[eventLine..], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_narrow_terminal_gets_a_line_cut_to_fit()
    {
        var output = new StringWriter();
        await using var progress = new ConsoleProgress(output, isTerminal: true, new ManualClock(), autoRender: false) { Width = 20 };
        progress.Progress.AddWork(5, 5000);

        progress.Render();

        Assert.Equal(19, output.ToString().Length);
    }

    [Fact]
    public async Task Without_a_terminal_status_comes_as_plain_lines_at_most_once_per_interval_without_control_characters()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        await using (var progress = new ConsoleProgress(output, isTerminal: false, clock, autoRender: false) { PlainInterval = TimeSpan.FromSeconds(10) })
        {
            var p = progress.Progress;
            p.Phase = "transferring";
            progress.Render(); // no work yet: nothing to say
            p.AddWork(4, 4 << 20);
            clock.Advance(TimeSpan.FromSeconds(10));
            progress.Render();
            p.AddBytes(1 << 20);
            clock.Advance(TimeSpan.FromSeconds(1));
            progress.Render(); // too soon after the last line
            p.Log("uploaded 'evil\u001b[2Jname.txt'");
            p.AddBytes(1 << 20);
            p.FileDone();
            clock.Advance(TimeSpan.FromSeconds(9));
            progress.Render();
            clock.Advance(TimeSpan.FromSeconds(10));
            progress.Render(); // nothing moved: no repeat
        }

        var text = output.ToString();
        var lines = text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(text.Replace(Environment.NewLine, string.Empty, StringComparison.Ordinal), char.IsControl);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("transferring: 0/4 files, 0 B/4.0 MiB", lines[0], StringComparison.Ordinal);
        Assert.Equal("uploaded 'evil?[2Jname.txt'", lines[1]);
        Assert.StartsWith("transferring: 1/4 files, 2.0 MiB/4.0 MiB, ", lines[2], StringComparison.Ordinal);
        Assert.Contains("/s ETA ", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rendering_on_its_own_timer_draws_without_being_asked()
    {
        var output = new LockedWriter();
        await using var progress = new ConsoleProgress(output, isTerminal: true);
        progress.Progress.AddWork(1, 1);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!output.Text.Contains("0/1 files", StringComparison.Ordinal) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        Assert.Contains("0/1 files", output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_a_terminal_an_event_line_shows_control_characters_escaped_and_keeps_its_line_breaks()
    {
        var output = new StringWriter();
        await using var progress = new ConsoleProgress(output, isTerminal: true, new ManualClock(), autoRender: false);

        progress.WriteLine("error: server says \u001b]0;owned\u0007\u001b[2J\rdone\nsecond line\u009b");

        var text = output.ToString();
        Assert.DoesNotContain('\u001b', text);
        Assert.DoesNotContain('\u0007', text);
        Assert.DoesNotContain('\r', text);
        Assert.DoesNotContain('\u009b', text);
        Assert.Contains("\\u001b]0;owned\\u0007", text, StringComparison.Ordinal);
        Assert.Contains("done\nsecond line\\u009b", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_one_shot_pass_without_a_terminal_writes_its_event_lines_in_batches_complete_and_in_order()
    {
        var output = new FlushCountingWriter();
        await using (var progress = new ConsoleProgress(output, isTerminal: false, new ManualClock(), autoRender: false))
        {
            for (var i = 0; i < 1000; i++)
            {
                progress.Progress.Log($"uploaded 'f{i}\u001b' (1 B)");
            }

            Assert.True(output.Flushes < 100, $"{output.Flushes} flushes for 1000 lines");
        }

        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => $"uploaded 'f{i}?' (1 B)"), lines);
    }

    [Fact]
    public async Task Lines_written_after_a_one_shot_pass_is_disposed_still_come_out_in_order()
    {
        // The once path disposes the progress and then writes the summary, errors and refusals: they must not stay
        // in a batch that nothing flushes any more (a cron run's log would say nothing).
        var output = new StringWriter();
        var progress = new ConsoleProgress(output, isTerminal: false, new ManualClock(), autoRender: false);
        progress.WriteLine("uploaded 'a' (1 B)");
        await progress.DisposeAsync();
        progress.WriteLine("refused: '../escape.txt'");
        progress.WriteLine("sync: 1 up, 1 refused");
        await progress.DisposeAsync();

        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["uploaded 'a' (1 B)", "refused: '../escape.txt'", "sync: 1 up, 1 refused"], lines);
    }

    private sealed class FlushCountingWriter : StringWriter
    {
        public int Flushes { get; private set; }

        public override void Flush()
        {
            Flushes++;
            base.Flush();
        }
    }

    /// <summary>A writer a test can read while the renderer writes from its timer.</summary>
    private sealed class LockedWriter : TextWriter
    {
        private readonly System.Text.StringBuilder _text = new();

        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public override void Write(char value)
        {
            lock (_text)
            {
                _text.Append(value);
            }
        }
    }

    [Fact]
    public async Task On_a_terminal_a_pass_with_nothing_to_transfer_or_one_that_is_done_leaves_no_status_line()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        await using var progress = new ConsoleProgress(output, isTerminal: true, clock, autoRender: false);
        var p = progress.Progress;
        p.Phase = "scanning";
        progress.Render();
        p.Phase = "done";
        progress.Render();
        Assert.Equal(string.Empty, output.ToString().Replace("\r", string.Empty, StringComparison.Ordinal).Trim()); // no "done: 0/0 files"

        p.Phase = "transferring";
        p.AddWork(1, 100);
        progress.Render();
        p.AddBytes(100);
        p.FileDone();
        p.Phase = "done";
        progress.Render();
        progress.WriteLine("sync: up 1 file(s)");

        // The transfer's line was drawn, then erased: nothing is left before the summary on its line.
        var lines = output.ToString().Split('\n');
        Assert.Contains("transferring: 0/1 files", output.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("\rsync: up 1 file(s)", lines[0].TrimEnd(' '), StringComparison.Ordinal);
        Assert.DoesNotContain("done:", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_held_pass_header_is_printed_only_when_a_line_follows_and_daemon_lines_carry_the_time()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        await using var progress = new ConsoleProgress(output, isTerminal: false, clock, autoRender: false) { Timestamps = true };

        progress.HoldLine("pass (remote change)");
        progress.DropHeldLine(); // an idle pass
        progress.HoldLine("pass (local change)");
        progress.WriteLine("uploaded 'a.txt' (3 B)");

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d pass \(local change\)$", lines[0].TrimEnd('\r'));
        Assert.EndsWith(" uploaded 'a.txt' (3 B)", lines[1].TrimEnd('\r'), StringComparison.Ordinal);
        Assert.True(progress.WasLogged("uploaded 'a.txt' (3 B)")); // so the summary's same note is not printed again
        progress.ForgetLogged();
        Assert.False(progress.WasLogged("uploaded 'a.txt' (3 B)"));
    }

    [Fact]
    public async Task A_daemons_plain_status_line_carries_the_time_as_its_other_lines_do()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        await using (var progress = new ConsoleProgress(output, isTerminal: false, clock, autoRender: false) { Timestamps = true, PlainInterval = TimeSpan.FromSeconds(10) })
        {
            progress.Progress.Phase = "transferring";
            progress.Progress.AddWork(1, 5);
            clock.Advance(TimeSpan.FromSeconds(10));
            progress.Render();
        }

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d transferring: 0/1 files, 0 B/5 B", lines[0].TrimEnd('\r'));
    }

    [Fact]
    public async Task Stopping_the_renderer_throws_no_exception()
    {
        // Every `sync --once` stops one: an exception there cost each run ~10 ms (a stack trace and its assemblies).
        var thrown = new List<string>();
        void OnFirstChance(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            if (e.Exception is OperationCanceledException && Environment.StackTrace.Contains(nameof(ConsoleProgress), StringComparison.Ordinal))
            {
                lock (thrown)
                {
                    thrown.Add(e.Exception.GetType().Name);
                }
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;
        try
        {
            foreach (var terminal in new[] { false, true })
            {
                var output = new StringWriter();
                var progress = new ConsoleProgress(output, isTerminal: terminal);
                progress.WriteLine("uploaded 'a.txt' (3 B)");
                await progress.DisposeAsync();
                Assert.Contains("uploaded 'a.txt' (3 B)", output.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= OnFirstChance;
        }

        Assert.Empty(thrown);
    }
}
