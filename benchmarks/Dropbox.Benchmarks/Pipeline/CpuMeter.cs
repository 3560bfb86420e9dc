using System.Diagnostics;

namespace Dropbox.Benchmarks.Pipeline;

/// <summary>
/// Adds up process CPU time and wall time over benchmark iterations, so a result can be read as
/// "MB per CPU-second" too. On a machine shared with other work the wall-clock MB/s drops with the load, while
/// MB per CPU-second shows the code's own cost.
/// </summary>
public sealed class CpuMeter
{
    private readonly Process _process = Process.GetCurrentProcess();
    private readonly Stopwatch _wall = new();
    private TimeSpan _cpuAtStart;
    private TimeSpan _cpu;
    private int _runs;

    /// <summary>Call from [IterationSetup].</summary>
    public void Start()
    {
        _process.Refresh();
        _cpuAtStart = _process.TotalProcessorTime;
        _wall.Start();
    }

    /// <summary>Call from [IterationCleanup].</summary>
    public void Stop()
    {
        _wall.Stop();
        _process.Refresh();
        _cpu += _process.TotalProcessorTime - _cpuAtStart;
        _runs++;
    }

    /// <summary>Prints the totals (call from [GlobalCleanup]) and resets.</summary>
    public void Report(string name, long bytesPerRun)
    {
        if (_runs > 0 && _cpu > TimeSpan.Zero)
        {
            var bytes = (double)bytesPerRun * _runs;
            Console.WriteLine(
                $"// CPU {name}: {bytes / _cpu.TotalSeconds / 1e6:N0} MB per CPU-second, " +
                $"{_cpu.TotalSeconds / _wall.Elapsed.TotalSeconds:F2} cores busy on average, {bytes / _wall.Elapsed.TotalSeconds / 1e6:N0} MB/s wall, over {_runs} runs");
        }

        _cpu = TimeSpan.Zero;
        _wall.Reset();
        _runs = 0;
    }
}
