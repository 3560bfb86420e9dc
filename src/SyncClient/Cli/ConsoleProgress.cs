using System.Diagnostics;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// Renders a pass's progress: on a terminal one live status line (files, bytes, rate, ETA) redrawn a few
/// times a second with event lines above it; otherwise plain lines only.
/// </summary>
internal sealed class ConsoleProgress : IAsyncDisposable
{
    private readonly TextWriter _out;
    private readonly bool _live;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renderer;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _lastWidth;
    private int _disposed;

    public ConsoleProgress(TextWriter output, bool live)
    {
        _out = output;
        _live = live;
        Progress = new SyncProgress { Log = WriteLine };
        _renderer = live ? RenderLoopAsync() : Task.CompletedTask;
    }

    public SyncProgress Progress { get; }

    public void WriteLine(string line)
    {
        lock (_lock)
        {
            if (_live)
            {
                ClearStatus();
            }

            _out.WriteLine(line);
        }
    }

    public void Restart() => _clock.Restart();

    private async Task RenderLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                lock (_lock)
                {
                    var p = Progress;
                    var elapsed = _clock.Elapsed.TotalSeconds;
                    var rate = elapsed > 0 ? p.BytesDone / elapsed : 0;
                    var left = p.BytesTotal - p.BytesDone;
                    var eta = rate > 1 && left > 0 ? " ETA " + Format.Duration(TimeSpan.FromSeconds(left / rate)) : string.Empty;
                    var line = $"{p.Phase}: {p.FilesDone}/{p.FilesTotal} files, {Format.Bytes(p.BytesDone)}/{Format.Bytes(p.BytesTotal)}, {Format.Bytes(rate)}/s{eta}";
                    ClearStatus();
                    _out.Write(line);
                    _out.Flush();
                    _lastWidth = line.Length;
                }
            }
        }
        catch (OperationCanceledException)
        {
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

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _renderer.ConfigureAwait(false);
        lock (_lock)
        {
            ClearStatus();
        }

        _stop.Dispose();
    }
}
