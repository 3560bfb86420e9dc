namespace Dropbox.Benchmarks.Pipeline;

/// <summary>How many input bytes one call of the benchmark method processes; feeds <see cref="ThroughputColumn"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BytesPerOperationAttribute(long bytes) : Attribute
{
    /// <summary>Input bytes per operation.</summary>
    public long Bytes { get; } = bytes;
}
