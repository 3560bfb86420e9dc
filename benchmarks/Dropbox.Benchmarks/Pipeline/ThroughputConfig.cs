using BenchmarkDotNet.Configs;

namespace Dropbox.Benchmarks.Pipeline;

/// <summary>Adds the MB/s column.</summary>
public sealed class ThroughputConfig : ManualConfig
{
    /// <summary>Creates the config.</summary>
    public ThroughputConfig()
    {
        AddColumn(new ThroughputColumn());
    }
}
