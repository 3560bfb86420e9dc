using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// Renders a pass's progress. On a terminal: one live status line (phase, files, bytes, rate, ETA) redrawn
/// in place a few times a second, with event lines printed above it. Otherwise (a pipe, a log file): plain
/// lines only, never a control character, with the same status as its own line every
/// <see cref="PlainInterval"/> while there is transfer work and it moved.
/// </summary>
internal sealed class ConsoleProgress : IAsyncDisposable
{
    /// <summary>Redraw period of the live line.</summary>
    public static readonly TimeSpan LiveInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Default period of status lines when the output is not a terminal.</summary>
    public static readonly TimeSpan DefaultPlainInterval = TimeSpan.FromSeconds(10);

    /// <summary>The rate is measured over this much recent time (so a daemon's idle hours do not dilute it).</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(5);

    /// <summary>Longest time left that the status line shows as an ETA.</summary>
    public static readonly TimeSpan MaxEta = TimeSpan.FromDays(365);

    private readonly TextWriter _out;
    private readonly bool _live;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly PeriodicTimer? _timer;
    private readonly Task _renderer;
    private readonly Queue<(long Timestamp, long Bytes)> _samples = new();
    private int _lastWidth;
    private long _lastPlainTimestamp;
    private (string Phase, long Files, long Bytes) _lastPlain;
    private int _disposed;
    private string? _heldHeader;
    private readonly HashSet<string> _logged = new(StringComparer.Ordinal);

    /// <param name="output">Where everything is written.</param>
    /// <param name="isTerminal">True for a live redrawn line; false for plain lines.</param>
    /// <param name="time">The clock (tests pass a manual one).</param>
    /// <param name="autoRender">False to render only when <see cref="Render"/> is called (tests).</param>
    public ConsoleProgress(TextWriter output, bool isTerminal, TimeProvider? time = null, bool autoRender = true)
    {
        _out = output;
        _live = isTerminal;
        _time = time ?? TimeProvider.System;
        _lastPlainTimestamp = _time.GetTimestamp();
        Progress = new SyncProgress { Log = WriteLine };
        if (autoRender)
        {
            _timer = new PeriodicTimer(_live ? LiveInterval : TimeSpan.FromSeconds(1), _time);
            _renderer = RenderLoopAsync(_timer);
        }
        else
        {
            _renderer = Task.CompletedTask;
        }
    }

    /// <summary>The counters passes update.</summary>
    public SyncProgress Progress { get; }

    /// <summary>How often a plain status line may be printed when the output is not a terminal.</summary>
    public TimeSpan PlainInterval { get; init; } = DefaultPlainInterval;

    /// <summary>Columns of the terminal: the live line is cut to fit so that redrawing it never wraps.</summary>
    public int? Width { get; init; }

    /// <summary>Prefix every line with the local date and time (the daemon's output: a log read later).</summary>
    public bool Timestamps { get; init; }

    /// <summary>Prints one event line (above the live line on a terminal).</summary>
    public void WriteLine(string line)
    {
        lock (_lock)
        {
            if (_logged.Count < 10_000)
            {
                _logged.Add(line);
            }

            if (_heldHeader is { } header)
            {
                _heldHeader = null;
                WriteLineLocked(header);
            }

            WriteLineLocked(line);
        }
    }

    /// <summary>
    /// A line (a pass's "pass (reason)") printed only if something else is printed after it: before the next
    /// <see cref="WriteLine"/>, else dropped by <see cref="DropHeldLine"/>. So passes that find nothing to do print nothing.
    /// </summary>
    public void HoldLine(string line)
    {
        lock (_lock)
        {
            _heldHeader = line;
        }
    }

    /// <summary>Forgets the held line (the pass had nothing to say).</summary>
    public void DropHeldLine()
    {
        lock (_lock)
        {
            _heldHeader = null;
        }
    }

    /// <summary>
    /// True when <paramref name="line"/> was printed as an event since the last <see cref="ForgetLogged"/> (a
    /// summary's note that was already shown live is not shown again).
    /// </summary>
    public bool WasLogged(string line)
    {
        lock (_lock)
        {
            return _logged.Contains(line);
        }
    }

    /// <summary>Starts a new pass's record of what was printed.</summary>
    public void ForgetLogged()
    {
        lock (_lock)
        {
            _logged.Clear();
        }
    }

    private void WriteLineLocked(string line)
    {
        if (_live)
        {
            ClearStatus();
        }

        line = Stamped(line);

        // Lines carry server text (paths, error details): on a terminal every control character but the line feed
        // is shown escaped, so no escape sequence from a server reaches it.
        if (BatchesLines)
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                _batch.AppendLine(StripControl(line));
                if (_batch.Length >= MaxBatchChars)
                {
                    FlushBatchLocked();
                }

                return;
            }

            // After dispose nothing flushes a batch again (the pass's report and errors come then): write through,
            // after whatever is still batched.
            FlushBatchLocked();
        }

        _out.WriteLine(_live ? SyncPaths.Escape(line, keepNewlines: true) : StripControl(line));
        _out.Flush();
    }

    /// <summary>
    /// A one-shot pass's plain output (a pipe or a file, no timestamps): event lines go out in batches, at the next
    /// render tick, at <see cref="MaxBatchChars"/> or at the end, not with one write each (a write per uploaded file
    /// was 10,000 system calls in a first sync of 10,000 files). A daemon's log lines go out at once.
    /// </summary>
    private bool BatchesLines => !_live && !Timestamps;

    /// <summary>Characters of event lines held back at most.</summary>
    private const int MaxBatchChars = 32 << 10;

    private readonly System.Text.StringBuilder _batch = new();

    private void FlushBatchLocked()
    {
        if (_batch.Length > 0)
        {
            _out.Write(_batch);
            _batch.Clear();
            _out.Flush();
        }
    }

    /// <summary>Draws the status once: redraws the live line, or prints a plain line when one is due.</summary>
    public void Render()
    {
        lock (_lock)
        {
            FlushBatchLocked();
            var now = _time.GetTimestamp();
            var status = Status(now);
            if (_live)
            {
                if (Progress.FilesTotal + Progress.BytesTotal == 0 || Progress.Phase == "done")
                {
                    // Nothing to transfer (an idle pass, a daemon between passes): no "done: 0/0 files" line left standing.
                    ClearStatus();
                    _out.Flush();
                    return;
                }

                if (Width is > 1 and var width && status.Length >= width)
                {
                    status = status[..(width - 1)];
                }

                ClearStatus();
                _out.Write(status);
                _out.Flush();
                _lastWidth = status.Length;
                return;
            }

            var p = Progress;
            var moved = (p.Phase, p.FilesDone, p.BytesDone);
            if (p.FilesTotal + p.BytesTotal == 0 || moved == _lastPlain || _time.GetElapsedTime(_lastPlainTimestamp, now) < PlainInterval)
            {
                return;
            }

            _out.WriteLine(StripControl(Stamped(status)));
            _out.Flush();
            _lastPlain = moved;
            _lastPlainTimestamp = now;
        }
    }

    /// <summary>The line with the local time in front when <see cref="Timestamps"/> (a daemon's lines, status lines too).</summary>
    private string Stamped(string line) =>
        Timestamps ? _time.GetLocalNow().ToString("yyyy-MM-dd HH:mm:ss ", System.Globalization.CultureInfo.InvariantCulture) + line : line;

    /// <summary>The status text: "phase: 3/10 files, 1.0 MiB/4.0 MiB, 512.0 KiB/s ETA 6s".</summary>
    private string Status(long now)
    {
        var p = Progress;
        var done = p.BytesDone;
        if (_samples.Count > 0 && done < _samples.Last().Bytes)
        {
            _samples.Clear(); // a new pass reset the counters
        }

        _samples.Enqueue((now, done));
        while (_samples.Count > 2 && _time.GetElapsedTime(_samples.Peek().Timestamp, now) > RateWindow)
        {
            _samples.Dequeue();
        }

        var (firstTime, firstBytes) = _samples.Peek();
        var seconds = _time.GetElapsedTime(firstTime, now).TotalSeconds;
        var rate = seconds > 0 ? (done - firstBytes) / seconds : 0;
        var left = p.BytesTotal - done;
        // A total from a hostile or confused server can make the estimate overflow a TimeSpan: show none then.
        var etaSeconds = rate > 1 && left > 0 ? left / rate : double.NaN;
        var eta = etaSeconds <= MaxEta.TotalSeconds ? " ETA " + Format.Duration(TimeSpan.FromSeconds(etaSeconds)) : string.Empty;
        return $"{p.Phase}: {p.FilesDone}/{p.FilesTotal} files, {Format.Bytes(done)}/{Format.Bytes(p.BytesTotal)}, {Format.Bytes(rate)}/s{eta}";
    }

    /// <summary>
    /// Renders each tick until the timer is disposed (its wait then answers false: stopping throws nothing, where a
    /// cancelled wait threw an OperationCanceledException at the end of every run, ~10 ms of a `sync --once`).
    /// </summary>
    private async Task RenderLoopAsync(PeriodicTimer timer)
    {
        while (await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            Render();
        }
    }

    private void ClearStatus()
    {
        if (_lastWidth > 0)
        {
            _out.Write('\r' + new string(' ', _lastWidth) + '\r');
            _lastWidth = 0;
        }
    }

    /// <summary>File names can hold anything; a log must not receive terminal control sequences from them.</summary>
    private static string StripControl(string line)
    {
        if (!line.Any(char.IsControl))
        {
            return line;
        }

        return string.Create(line.Length, line, static (span, s) =>
        {
            for (var i = 0; i < s.Length; i++)
            {
                span[i] = char.IsControl(s[i]) ? '?' : s[i];
            }
        });
    }

    /// <summary>Stops redrawing and erases the live line.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _timer?.Dispose();
        await _renderer.ConfigureAwait(false);
        lock (_lock)
        {
            FlushBatchLocked();
            ClearStatus();
        }
    }
}
